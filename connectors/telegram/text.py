"""Telegram text rules: the 4096-character limit and the escaping of formatted messages.

Pure functions. Telegram counts message length in UTF-16 code units (entity offsets are UTF-16),
so lengths here are measured that way: an emoji outside the BMP costs two.
"""

from __future__ import annotations

import re
from typing import Literal

MAX_MESSAGE_LENGTH = 4096

# Boundaries to split at, best first. A boundary is used only if it keeps the part at least half
# full, so a paragraph break near the start does not produce a tiny first message.
_BOUNDARIES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n\s*\n"),  # paragraph
    re.compile(r"\n"),  # line
    re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])"),  # sentence (CJK sentences end without a space)
    re.compile(r"\s+"),  # word
)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """Length (in code points) of the longest prefix of `text` within `limit` UTF-16 units."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-16 units, at paragraph, line, sentence or
    word boundaries when possible. Deterministic: the same text always gives the same parts, so a
    retried reply can skip the parts already posted."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            parts.append(rest)
            break
        window = rest[: _prefix_within(rest, limit)]
        cut = len(window)
        for pattern in _BOUNDARIES:
            candidates = [m for m in pattern.finditer(window) if m.start() >= len(window) // 2]
            if candidates:
                cut = candidates[-1].start() or candidates[-1].end()
                break
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    return parts


# --- escaping ----------------------------------------------------------------------------------
def escape_html(text: str) -> str:
    """Escape text for parse_mode="HTML": Telegram requires &, < and > as entities; the double
    quote is escaped too so the result is also safe inside an attribute (href)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_MD2_RESERVED = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
_MD2_CODE = re.compile(r"([`\\])")
_MD2_LINK = re.compile(r"([)\\])")


def escape_markdown_v2(text: str, entity: Literal["text", "code", "pre", "link_url"] = "text") -> str:
    """Escape text for parse_mode="MarkdownV2".

    Outside entities every reserved character (and the backslash) gets a backslash; inside `code`
    and `pre` only ` and \\ do; inside the (...) URL of an inline link only ) and \\ do.
    """
    if entity in ("code", "pre"):
        return _MD2_CODE.sub(r"\\\1", text)
    if entity == "link_url":
        return _MD2_LINK.sub(r"\\\1", text)
    return _MD2_RESERVED.sub(r"\\\1", text)
