"""Find connector classes: built-ins and third-party ones, through the `helpline.connectors`
entry point group (`[project.entry-points."helpline.connectors"] myplatform = "pkg.mod:Class"`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points

from .base import AccountSettings, Connector, ConnectorContext
from .capabilities import Capabilities, CapabilityLookup
from .errors import ConfigError
from .options import OptionsInvalid, parse_options

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


def capabilities_lookup(
    accounts: Sequence[AccountSettings], connectors: Mapping[tuple[str, str], Connector] | None = None
) -> CapabilityLookup:
    """Find an account's capabilities: from its live connector when this process runs one (it
    knows what it learned at start, such as a Mastodon instance's limit), else declared by its
    platform's connector class from the account's options, else the platform's defaults; None
    for a platform no installed connector serves."""
    configured = {(a.platform, a.name): a.options for a in accounts}
    live = connectors if connectors is not None else {}  # the live map: connectors started later count
    classes: dict[str, type[Connector]] = {}

    def lookup(platform: str, account: str) -> Capabilities | None:
        connector = live.get((platform, account))
        if connector is not None:
            return connector.capabilities()
        try:
            cls = classes.get(platform) or classes.setdefault(platform, connector_class(platform))
        except ConfigError:
            return None
        try:
            options = parse_options(cls.options_model, platform, account, configured.get((platform, account), {}))
        except OptionsInvalid:  # reported where the account is built; its platform's defaults meanwhile
            options = cls.options_model()
        return cls.declared_capabilities(options)

    return lookup
