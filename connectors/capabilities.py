"""What a platform allows, declared by its connector: how text is counted and split, whether
long text becomes a thread, buttons, the visibilities it has, where announcements can go.

Announcements and the console ask these instead of knowing platforms themselves; a new connector
declares them once and both work with it. Everything here is pure data and pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from helpline.routing.models import Visibility

from .publishing import Destination

#: Pure: `text` in parts of at most `limit` as the platform counts; the same text gives the same
#: parts. May raise ValueError when the text cannot be split under `limit` (a token too long).
Split = Callable[[str, int], Sequence[str]]


_LINK = re.compile(r"https?://[^\s<>\"]+")


def _whole(text: str, limit: int) -> Sequence[str]:
    return [text]


def http_links(text: str) -> list[tuple[int, int]]:
    """Spans of http(s) links, without the sentence's trailing punctuation."""
    spans = []
    for match in _LINK.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in ".,:;!?)]}'\"":
            end -= 1
        spans.append((start, end))
    return spans


@dataclass(frozen=True)
class TextRules:
    """How one kind of post (a public post, a private message) is counted and split."""

    limit: int  # the most one post holds, in the platform's own units
    measure: Callable[[str], int] = len  # the platform's count (X weighs URLs 23 and CJK 2)
    split: Split = _whole  # how a longer text is posted (numbered when the platform threads it)
    counting: str = "characters"  # the rule in a few words, shown next to the console's counter
    #: Spans of what the platform treats as links: never cut between two posts.
    find_links: Callable[[str], list[tuple[int, int]]] = http_links
    numbering_room: int = 0  # room a "2/3" marker takes in each part of a split text
    parse_mode: str | None = None  # how parts are posted ("HTML": escaped with `escape`)
    escape: Callable[[str], str] | None = None

    def count(self, text: str) -> int:
        return self.measure(text)

    def parts(self, text: str) -> Sequence[str]:
        text = text.strip()
        return [text] if self.measure(text) <= self.limit else self.split(text, self.limit)


@dataclass(frozen=True)
class Capabilities:
    public: TextRules = field(default_factory=lambda: TextRules(limit=4096))
    direct: TextRules = field(default_factory=lambda: TextRules(limit=4096))
    threads: bool = False  # a long public reply goes out as a chain of replies to each other
    buttons: bool = False  # inline buttons; without them choices are sent as numbered text
    visibilities: frozenset[Visibility] = frozenset({Visibility.PUBLIC, Visibility.PRIVATE})
    announcements: frozenset[Destination] = frozenset()  # where it can publish; empty: nowhere
    reply_files: frozenset[str] = frozenset()  # MIME types a reply may attach; empty: text only
    waiting_notice: bool = False  # a customer queued for a person is told the usual wait (a live chat)
    #: The e-mail account that also mails agents' answers to a customer who left an address for
    #: them (a web chat visitor off hours); None: the agent is shown the address instead.
    email_copies: str | None = None
    split_threads: bool = False  # an agent may split messages off into a thread of their own (split_thread)

    def text(self, direct: bool) -> TextRules:
        """The rules of a direct (private) message or of a public post."""
        return self.direct if direct else self.public


#: Finds an account's capabilities: `lookup(platform, account)`, None for an unknown platform.
CapabilityLookup = Callable[[str, str], "Capabilities | None"]
