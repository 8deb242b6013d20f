"""Rendering an announcement for each platform, with the preview the console shows. Pure.

- X: weighted 280 (URLs 23, CJK 2), long text as a numbered thread cut at sentence boundaries
  (`connectors.x.text.split_thread`).
- Telegram: 4096 UTF-16 units of visible text; each part HTML-escaped and sent with parse_mode
  HTML, so `<`, `>` and `&` in marketing copy are shown, never parsed (`connectors.telegram.text`).
- Mastodon: the instance limit (500 by default), a numbered chain (`connectors.mastodon.compose`).

A text that cannot fit is refused with the reason, at compose time: one token (a URL, a long
address) longer than a post can hold would have to be cut in the middle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from helpline.connectors.mastodon.compose import measure as mastodon_length
from helpline.connectors.mastodon.compose import split_reply
from helpline.connectors.telegram.text import MAX_MESSAGE_LENGTH, escape_html, split_text, utf16_len
from helpline.connectors.x.text import MAX_TWEET, find_urls, split_thread, weighted_length

from .models import Announcement, Target

_TOKEN = re.compile(r"\S+")
_NUMBERING_ROOM = {"x": len("99/99 "), "telegram": 0, "mastodon": len(" (99/99)")}


@dataclass(frozen=True)
class Part:
    text: str  # as posted (escaped HTML for Telegram)
    length: int  # as the platform counts it
    visible: str  # as the reader sees it


@dataclass(frozen=True)
class Rendering:
    platform: str
    limit: int
    parts: tuple[Part, ...] = ()
    parse_mode: str | None = None
    refused: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.refused is None

    def texts(self) -> tuple[str, ...]:
        return tuple(p.text for p in self.parts)


def _measure(platform: str) -> Callable[[str], int]:
    return {"x": weighted_length, "telegram": utf16_len, "mastodon": mastodon_length}[platform]


def _unsplittable(token: str) -> bool:
    """A URL or an ASCII run (an address, a hash) breaks if cut; text in scripts written without
    spaces (Chinese, Japanese) is cut between characters, as people write it."""
    return bool(find_urls(token)) or token.isascii()


def _too_long_token(text: str, platform: str, limit: int) -> str | None:
    measure = _measure(platform)
    room = limit - _NUMBERING_ROOM[platform]
    for match in _TOKEN.finditer(text):
        token = match.group()
        if measure(token) > room and _unsplittable(token):
            shown = token if len(token) <= 40 else f"{token[:37]}..."
            return (f"{platform}: {shown!r} is {measure(token)} characters as {platform} counts them and cannot "
                    f"be split; a {platform} post holds {limit}")
    return None


def _urls_intact(text: str, parts: Sequence[str]) -> str | None:
    for start, end in find_urls(text):
        url = text[start:end]
        if not any(url in part for part in parts):
            return f"the link {url[:60]!r} would be cut between two posts"
    return None


def render(text: str, platform: str, limit: int, *, images: int = 0) -> Rendering:
    """Render `text` for `platform` under `limit`; a refusal names the platform and the reason."""
    text = text.strip()
    if not text:
        return Rendering(platform, limit, refused=f"{platform}: the text is empty")
    if images:
        return Rendering(platform, limit, refused=f"{platform}: image upload is not supported yet; "
                                                  "remove the images or link to them in the text")
    token = _too_long_token(text, platform, limit)
    if token is not None:
        return Rendering(platform, limit, refused=token)
    if platform == "x":
        raw = split_thread(text, limit)
        parts = tuple(Part(p, weighted_length(p), p) for p in raw)
        mode = None
    elif platform == "telegram":
        raw = split_text(text, limit)
        parts = tuple(Part(escape_html(p), utf16_len(p), p) for p in raw)
        mode = "HTML"
    elif platform == "mastodon":
        try:
            raw = split_reply(text, limit)
        except ValueError as exc:
            return Rendering(platform, limit, refused=f"mastodon: {exc}")
        parts = tuple(Part(p, mastodon_length(p), p) for p in raw)
        mode = None
    else:
        return Rendering(platform, limit, refused=f"{platform}: announcements cannot be published there")
    over = [i for i, p in enumerate(parts, 1) if p.length > limit]
    if over:
        return Rendering(platform, limit, refused=f"{platform}: part {over[0]} would exceed {limit} characters")
    cut = _urls_intact(text, raw)
    if cut is not None:
        return Rendering(platform, limit, refused=f"{platform}: {cut}")
    warnings = (f"{platform}: posted as {len(parts)} parts",) if len(parts) > 1 else ()
    return Rendering(platform, limit, parts, mode, warnings=warnings)


def limit_for(target: Target, mastodon_limits: dict[str, int] | None = None, mastodon_default: int = 500) -> int:
    if target.platform == "x":
        return MAX_TWEET
    if target.platform == "telegram":
        return MAX_MESSAGE_LENGTH
    return (mastodon_limits or {}).get(target.account, mastodon_default)


def render_target(announcement: Announcement, target: Target, mastodon_limits: dict[str, int] | None = None,
                  mastodon_default: int = 500) -> Rendering:
    return render(announcement.text_for(target.platform), target.platform,
                  limit_for(target, mastodon_limits, mastodon_default), images=len(announcement.images))


def preview(announcement: Announcement, mastodon_limits: dict[str, int] | None = None,
            mastodon_default: int = 500) -> list[tuple[Target, Rendering]]:
    """Every target with its rendering (the console's preview and the refusal reasons)."""
    return [(t, render_target(announcement, t, mastodon_limits, mastodon_default)) for t in announcement.targets]


def refusals(announcement: Announcement, mastodon_limits: dict[str, int] | None = None,
             mastodon_default: int = 500) -> list[str]:
    return sorted({r.refused for _, r in preview(announcement, mastodon_limits, mastodon_default)
                   if r.refused is not None})
