"""Find connector classes: built-ins and third-party ones, through the `helpline.connectors`
entry point group (`[project.entry-points."helpline.connectors"] myplatform = "pkg.mod:Class"`)."""

from __future__ import annotations

from importlib.metadata import entry_points

from .base import AccountSettings, Connector, ConnectorContext
from .errors import ConfigError

GROUP = "helpline.connectors"


def connector_class(platform: str) -> type[Connector]:
    for ep in entry_points(group=GROUP):
        if ep.name == platform:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Connector)):
                raise ConfigError(f"entry point {GROUP}:{platform} is not a Connector subclass")
            return cls
    known = sorted(ep.name for ep in entry_points(group=GROUP))
    raise ConfigError(f"accounts.platform: unknown platform {platform!r} (installed: {', '.join(known)})")


def build_connector(settings: AccountSettings, context: ConnectorContext) -> Connector:
    return connector_class(settings.platform)(settings, context)
