"""The X poll cursor: two timelines (mentions, DM events) in one string, each a resumable sweep.

X lists both timelines newest first and pages towards older items. A sweep starts at the newest
page and follows `next_token` until it reaches what an earlier sweep stored (`since`); only when
the sweep ends does `since` move to the newest id the sweep saw (`top`). The token of a sweep in
progress is part of the cursor, so a restart mid-sweep resumes on the page it stopped at instead
of skipping the older pages or fetching the newer ones again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .parse import id_key, newest

START = "0"


@dataclass(frozen=True)
class Sweep:
    since: str | None = None  # newest id of the last finished sweep
    token: str | None = None  # next page of the sweep in progress
    top: str | None = None  # newest id seen by the sweep in progress

    @property
    def in_progress(self) -> bool:
        return self.token is not None

    def after_page(self, ids: list[str], next_token: str | None, *, reached_since: bool = False) -> Sweep:
        """The sweep after one more page. Pure.

        The sweep ends when the page is the last one, when it reached `since` (DM events have no
        since_id filter), or on a first-ever poll (no backlog is paged through)."""
        top = newest(self.top, *ids)
        if self.since is None and self.token is None:
            # "0": polling has started; everything after this point is wanted, even if the
            # timeline was empty (else the next sweep would also count as the first)
            return Sweep(top or START, None, None)
        if next_token and not reached_since:
            return Sweep(self.since, next_token, top)
        return Sweep(newest(self.since, top), None, None)

    @property
    def since_id(self) -> str | None:
        """The since_id to send X (X refuses since_id=0)."""
        return None if self.since in (None, START) else self.since

    def reached(self, ids: list[str]) -> bool:
        return self.since is not None and any(id_key(i) <= id_key(self.since) for i in ids)


@dataclass(frozen=True)
class XCursor:
    mentions: Sweep = field(default_factory=Sweep)
    dms: Sweep = field(default_factory=Sweep)

    def encode(self) -> str:
        def part(s: Sweep) -> dict[str, str]:
            return {k: v for k, v in (("since", s.since), ("token", s.token), ("top", s.top)) if v}

        return json.dumps(
            {"v": 1, "mentions": part(self.mentions), "dms": part(self.dms)}, separators=(",", ":"), sort_keys=True
        )

    @classmethod
    def decode(cls, raw: str | None) -> XCursor:
        """Parse a stored cursor; a bare id (an older format) is the mentions since_id."""
        if not raw:
            return cls()
        if raw.isdigit():
            return cls(mentions=Sweep(since=raw))
        data = json.loads(raw)

        def sweep(d: dict[str, str] | None) -> Sweep:
            d = d or {}
            return Sweep(d.get("since"), d.get("token"), d.get("top"))

        return cls(sweep(data.get("mentions")), sweep(data.get("dms")))
