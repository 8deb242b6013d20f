"""The Mastodon connector's `[accounts.options]`."""

from __future__ import annotations

from pydantic import Field

from helpline.connectors.files import FileOptions
from helpline.connectors.options import ConnectorOptions


class MastodonOptions(ConnectorOptions, FileOptions):  # FileOptions: where media customers send are kept
    page_size: int = Field(default=40, ge=1, le=80)  # notifications per request (Mastodon's maximum: 80)
    max_pages: int = Field(default=5, ge=1, le=1000)  # pages read in one poll before yielding
    #: Split statuses above this; None: the instance's own limit (read at start), else 500.
    max_characters: int | None = Field(default=None, ge=100, le=100_000)
    api_rate: int = Field(default=300, ge=1, le=1_000_000)  # API calls per 5 minutes
    api_burst: int = Field(default=30, ge=1, le=1_000_000)
    status_rate: int = Field(default=300, ge=1, le=1_000_000)  # statuses per 3 hours
    status_burst: int = Field(default=30, ge=1, le=1_000_000)
    thread_memory_days: int = Field(default=90, ge=1, le=3650)  # status -> thread mappings kept
    #: Hosts besides the instance's own (and its subdomains) whose media links are downloaded,
    #: for an instance that keeps media elsewhere (an S3 bucket or CDN host name).
    media_hosts: list[str] = Field(default_factory=list, max_length=20)
