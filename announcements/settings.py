"""Settings of the announcements feature (`[announcements]` in helpline.toml)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from .models import Announcement


class AnnouncementSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Target keys (shell patterns over Target.key: "x:main", "telegram:bot:chat:-100…",
    #: "telegram:bot:subscribers", "mastodon:acct") whose posts a supervisor must approve.
    #: Default: everything. `[]` lets marketing schedule without approval.
    require_approval: tuple[str, ...] = ("*",)
    scheduler_interval: float = Field(default=1.0, gt=0, le=60)
    #: A shared-rate-limit wait shorter than this is paced inside the publisher (the entry stays
    #: pending); a longer one parks the job in the delayed set and acknowledges it.
    pause_limit: float = Field(default=2.0, ge=0, le=30)
    #: Posts in flight per account at once; the shared limiter still caps the rate.
    concurrency: int = Field(default=4, ge=1, le=64)
    batch_size: int = Field(default=50, ge=1, le=1000)
    claim_idle_seconds: float = Field(default=30.0, gt=0)
    max_deliveries: int = Field(default=5, ge=1, le=100)

    def requires_approval(self, announcement: Announcement) -> bool:
        return any(fnmatchcase(t.key, pattern) for t in announcement.targets for pattern in self.require_approval)
