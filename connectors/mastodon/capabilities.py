"""What Mastodon allows: the instance's character limit (read from `/api/v2/instance` at start,
500 when unknown) with every link counted as at least 23, long replies as a numbered chain, no buttons;
announcements go to the account's timeline."""

from __future__ import annotations

from collections.abc import Sequence

from helpline.connectors.capabilities import Capabilities, TextRules
from helpline.connectors.publishing import Destination

from .compose import measure, split_reply


def _split(text: str, limit: int) -> Sequence[str]:
    return split_reply(text, limit)


def with_limit(max_characters: int) -> Capabilities:
    text = TextRules(
        limit=max_characters,
        measure=measure,
        split=_split,
        counting="characters, a link at least 23",
        numbering_room=len(" (99/99)"),
    )
    return Capabilities(
        public=text, direct=text, threads=True, buttons=False, announcements=frozenset({Destination.TIMELINE})
    )
