"""The X connector's `[accounts.options]`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from helpline.connectors.files import FileOptions
from helpline.connectors.options import ConnectorOptions

_USER_ID = r"^[0-9]{1,20}$"


class XOptions(ConnectorOptions, FileOptions):  # FileOptions: where the media of customers' DMs are kept
    #: The support account (else asked of GET /2/users/me at start).
    user_id: str | None = Field(default=None, pattern=_USER_ID)
    handle: str | None = Field(default=None, pattern=r"^@?[A-Za-z0-9_]{1,50}$")
    #: Accounts whose posts are skipped (the company's other bots).
    ignore_user_ids: tuple[str, ...] = ()
    mentions: bool = True
    direct_messages: bool = True
    #: Results per request: X accepts 5-100 for mentions.
    page_size: int = Field(default=100, ge=5, le=100)
    tweets_per_15min: int = Field(default=100, ge=1, le=100_000)
    dms_per_15min: int = Field(default=200, ge=1, le=100_000)
    dms_per_day: int = Field(default=1000, ge=1, le=1_000_000)
    #: Polling budgets (GET mentions, GET dm_events), each spent once per poll.
    mention_reads_per_15min: int = Field(default=300, ge=1, le=100_000)
    dm_reads_per_15min: int = Field(default=300, ge=1, le=100_000)

    @field_validator("user_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        """A TOML integer is read as the id it spells."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("ignore_user_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value)
        return value

    @field_validator("ignore_user_ids")
    @classmethod
    def _ids_are_numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.isdigit():
                raise ValueError(f"{item!r} is not an X user id (digits)")
        return value
