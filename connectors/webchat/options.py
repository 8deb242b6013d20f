"""`[accounts.options]` of a web chat account."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from helpline.connectors.options import ConnectorOptions


class WebchatOptions(ConnectorOptions):
    #: Sites allowed to embed the widget ("https://www.example.com"); any other Origin is refused.
    allowed_origins: list[str] = Field(min_length=1)
    #: "off": every visitor is anonymous; "optional": a site may pass user_id + HMAC-SHA256(secret,
    #: user_id) and the chat is linked to that user when it checks; "enforce": unverified refused.
    identity: Literal["off", "optional", "enforce"] = "optional"
    max_length: int = Field(default=2000, ge=1, le=8000)  # characters in one visitor message
    visitor_per_minute: int = Field(default=20, ge=1, le=600)  # messages, per visitor
    ip_per_minute: int = Field(default=60, ge=1, le=6000)  # messages, per client address
    history: int = Field(default=500, ge=10, le=10_000)  # events kept per chat
    keep_days: int = Field(default=30, ge=1, le=365)  # a quiet chat and an unused token expire
    #: An e-mail account (its `name`) that also mails agents' answers to a visitor who left an
    #: address off hours; without it the agent is shown the address.
    email_account: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not origin.startswith(("https://", "http://")) or origin.rstrip("/") != origin or origin.count("/") > 2:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return value
