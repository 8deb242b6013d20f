"""Typed `[accounts.options]`: each connector declares a pydantic model of the options it reads.

Unknown keys are refused (a misspelt budget must not be silently ignored) and values are checked
against their ranges, never clamped: `page_size = 1000` is an error naming the option, not 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

OptionsT = TypeVar("OptionsT", bound="ConnectorOptions")


class ConnectorOptions(BaseModel):
    """Base of every connector's options model; on its own, a connector with no options."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OptionsInvalid(ConfigError):
    """One or more options are wrong; `problems` has one "accounts.<name>.options.<key>: why" each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_options(model: type[OptionsT], platform: str, account: str, options: Mapping[str, Any]) -> OptionsT:
    """`options` as `model`, or OptionsInvalid naming every wrong option of `account`."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(model.model_fields)) or "none"
                message = f"not an option of the {platform} connector (its options: {known})"
            problems.append(f"accounts.{account}.options{'.' + where if where else ''}: {message}")
        raise OptionsInvalid(problems) from None
