"""The Telegram connector's `[accounts.options]`."""

from __future__ import annotations

from pydantic import Field

from helpline.connectors.files import FileOptions
from helpline.connectors.options import ConnectorOptions


class TelegramOptions(ConnectorOptions, FileOptions):  # FileOptions: where photos and documents are kept
    #: Seconds getUpdates waits for news; above 10 a poll would outlive the client's read timeout budget.
    long_poll_timeout: int = Field(default=1, ge=0, le=10)
    #: The shared send budgets; defaults are Telegram's documented limits: ~30 messages/s per bot,
    #: ~1/s per private chat, 20/min per group.
    bot_per_second: float = Field(default=30.0, gt=0, le=1000)
    private_per_second: float = Field(default=1.0, gt=0, le=100)
    group_per_minute: float = Field(default=20.0, gt=0, le=6000)

    def send_limits(self) -> dict[str, float]:
        return {
            "bot_per_second": self.bot_per_second,
            "private_per_second": self.private_per_second,
            "group_per_minute": self.group_per_minute,
        }
