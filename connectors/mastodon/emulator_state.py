"""State of the Mastodon emulator: accounts, statuses, notifications, idempotency keys and rate
limit windows, rendered as Mastodon's REST entities. In memory, one instance per app."""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helpline.connectors.emulator_ids import mastodon_ids


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class EmulatorConfig:
    token: str = "test-token"  # noqa: S105 - the emulator's own fake credential
    rate_limit: int = 300  # requests per rate_period per account (X-RateLimit-*)
    rate_period: float = 300.0
    status_limit: int = 300  # POST /api/v1/statuses per status_period
    status_period: float = 10800.0
    max_characters: int = 500
    idempotency_window: float = 3600.0
    fail_next: list[int] = field(default_factory=list)  # status codes for the next API calls


@dataclass
class Account:
    id: str
    username: str
    acct: str
    display_name: str
    bot: bool = False


@dataclass
class StoredStatus:
    id: str
    account_id: str
    text: str
    visibility: str
    in_reply_to_id: str | None
    created: float
    mentions: list[str]  # account ids
    media: list[dict[str, Any]]
    language: str | None = None  # ISO 639 as the poster's client tagged it; None when untagged


@dataclass
class Window:
    start: float = 0.0
    count: int = 0


class MastodonState:
    def __init__(self, domain: str, username: str, config: EmulatorConfig) -> None:
        self.domain = domain
        self.config = config
        self._ids = mastodon_ids()  # a restarted emulator continues above its old ids
        self.own = Account(id=self.new_id(), username=username, acct=username, display_name="Support")
        self.accounts: dict[str, Account] = {self.own.id: self.own}
        self.statuses: dict[str, StoredStatus] = {}
        self.media_files: dict[str, tuple[str, bytes]] = {}  # media id -> (MIME type, bytes) customers uploaded
        self.notifications: list[tuple[str, str]] = []  # (notification id, status id), ascending
        self.idempotency: dict[tuple[str, str], tuple[str, float]] = {}
        self.windows: dict[str, Window] = {}
        self.stats = {
            "requests": 0,
            "statuses_created": 0,
            "rate_limited_responses": 0,
            "idempotent_replays": 0,
            "unauthorized_responses": 0,
        }

    def new_id(self) -> str:
        return str(self._ids.next())

    # rate limits: fixed windows aligned to the period, as rack-attack counts them ------------
    def spend(self, bucket: str, limit: int, period: float, now: float) -> tuple[bool, int, float]:
        """Count one request; returns (allowed, remaining, reset timestamp)."""
        start = (now // period) * period
        window = self.windows.setdefault(bucket, Window())
        if window.start != start:
            window.start, window.count = start, 0
        allowed = window.count < limit
        if allowed:
            window.count += 1
        return allowed, max(0, limit - window.count), start + period

    # entities --------------------------------------------------------------------------------
    def account_url(self, account: Account) -> str:
        if "@" in account.acct:
            user, _, host = account.acct.partition("@")
            return f"https://{host}/@{user}"
        return f"https://{self.domain}/@{account.username}"

    def account_json(self, account: Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "username": account.username,
            "acct": account.acct,
            "display_name": account.display_name,
            "locked": False,
            "bot": account.bot,
            "discoverable": True,
            "group": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "url": self.account_url(account),
            "avatar": "",
            "avatar_static": "",
            "header": "",
            "header_static": "",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def content_html(self, status: StoredStatus) -> str:
        def link(match: re.Match[str]) -> str:
            acct = match.group(1)
            account = next((a for a in self.accounts.values() if a.acct.lower() == acct.lower()), None)
            if account is None:
                return match.group(0)
            return (
                f'<span class="h-card" translate="no"><a href="{self.account_url(account)}" '
                f'class="u-url mention">@<span>{account.username}</span></a></span>'
            )

        paragraphs = []
        for para in status.text.split("\n\n"):
            escaped = html.escape(para, quote=False)
            escaped = re.sub(r"(?<![\w/])@([A-Za-z0-9_]+(?:@[A-Za-z0-9.-]+)?)", link, escaped)
            paragraphs.append("<p>" + escaped.replace("\n", "<br />") + "</p>")
        return "".join(paragraphs)

    def status_json(self, status: StoredStatus) -> dict[str, Any]:
        author = self.accounts[status.account_id]
        parent = self.statuses.get(status.in_reply_to_id or "")
        return {
            "id": status.id,
            "created_at": iso(status.created),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": parent.account_id if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"https://{self.domain}/users/{author.username}/statuses/{status.id}",
            "url": f"https://{self.domain}/@{author.username}/{status.id}",
            "replies_count": sum(1 for s in self.statuses.values() if s.in_reply_to_id == status.id),
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "content": self.content_html(status),
            "reblog": None,
            "application": {"name": "Helpline emulator", "website": None},
            "account": self.account_json(author),
            "media_attachments": status.media,
            "mentions": [
                {"id": a.id, "username": a.username, "url": self.account_url(a), "acct": a.acct}
                for a in (self.accounts[i] for i in status.mentions)
            ],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def notification_json(self, note_id: str, status_id: str) -> dict[str, Any]:
        status = self.statuses[status_id]
        return {
            "id": note_id,
            "type": "mention",
            "group_key": f"ungrouped-{note_id}",
            "created_at": iso(status.created),
            "account": self.account_json(self.accounts[status.account_id]),
            "status": self.status_json(status),
        }

    # behaviour -------------------------------------------------------------------------------
    def visible(self, status: StoredStatus) -> bool:
        """Our account sees public statuses, its own, and those that mention it."""
        return status.visibility != "direct" or status.account_id == self.own.id or self.own.id in status.mentions

    def root_of(self, status_id: str) -> str:
        current = self.statuses[status_id]
        while current.in_reply_to_id and current.in_reply_to_id in self.statuses:
            current = self.statuses[current.in_reply_to_id]
        return current.id

    def mentioned_ids(self, text: str) -> list[str]:
        found = []
        for acct in re.findall(r"(?<![\w/])@([A-Za-z0-9_]+(?:@[A-Za-z0-9.-]+)?)", text):
            for account in self.accounts.values():
                if account.acct.lower() == acct.lower() and account.id not in found:
                    found.append(account.id)
        return found

    def text_length(self, text: str) -> int:
        """Mastodon's count: a URL is 23 characters, a remote mention counts its username only."""
        text = re.sub(r"https?://\S+", "x" * 23, text)
        text = re.sub(r"(@[A-Za-z0-9_]+)@[A-Za-z0-9.-]+", r"\1", text)
        return len(text)

    def add_status(
        self,
        account_id: str,
        text: str,
        visibility: str,
        in_reply_to_id: str | None,
        media: list[dict[str, Any]] | None = None,
        notify: bool = True,
        language: str | None = None,
    ) -> StoredStatus:
        status = StoredStatus(
            id=self.new_id(),
            account_id=account_id,
            text=text,
            visibility=visibility,
            in_reply_to_id=in_reply_to_id,
            created=time.time(),
            mentions=self.mentioned_ids(text),
            media=media or [],
            language=language,
        )
        self.statuses[status.id] = status
        if notify and self.own.id in status.mentions:
            self.notifications.append((self.new_id(), status.id))
        return status

    def notifications_page(
        self,
        *,
        types: list[str],
        exclude: list[str],
        max_id: str | None,
        since_id: str | None,
        min_id: str | None,
        limit: int,
    ) -> list[tuple[str, str]]:
        """Mastodon's pagination: `min_id` pages forward (oldest first), otherwise the newest
        page below `max_id` and above `since_id`; the page is returned newest first."""

        def key(value: str) -> tuple[int, str]:
            return (len(value), value)

        notes = [n for n in self.notifications if (not types or "mention" in types) and "mention" not in exclude]
        if max_id:
            notes = [n for n in notes if key(n[0]) < key(max_id)]
        if min_id:
            page = [n for n in notes if key(n[0]) > key(min_id)][:limit]
        else:
            if since_id:
                notes = [n for n in notes if key(n[0]) > key(since_id)]
            page = notes[-limit:]
        return list(reversed(page))
