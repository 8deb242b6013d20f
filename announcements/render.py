"""Rendering an announcement for each target, with the preview the console shows. Pure.

How a platform counts, splits and escapes text is its connector's knowledge, declared as the
connector's capabilities (`connectors.capabilities`): X's weighted 280 as a numbered thread,
Telegram's 4096 UTF-16 units as escaped HTML, Mastodon's instance limit as a numbered chain, or
whatever another connector declares. Rendering applies those rules and names nothing itself.

A text that cannot fit is refused with the reason, at compose time: one token (a URL, a long
address) longer than a post can hold would have to be cut in the middle.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from helpline.connectors.capabilities import CapabilityLookup, TextRules

from .models import Announcement, Target

_TOKEN = re.compile(r"\S+")


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


def _unsplittable(token: str, rules: TextRules) -> bool:
    """A link or an ASCII run (an address, a hash) breaks if cut; text in scripts written without
    spaces (Chinese, Japanese) is cut between characters, as people write it."""
    return bool(rules.find_links(token)) or token.isascii()


def _too_long_token(text: str, platform: str, rules: TextRules) -> str | None:
    room = rules.limit - rules.numbering_room
    for match in _TOKEN.finditer(text):
        token = match.group()
        if rules.measure(token) > room and _unsplittable(token, rules):
            shown = token if len(token) <= 40 else f"{token[:37]}..."
            return (
                f"{platform}: {shown!r} is {rules.measure(token)} characters as {platform} counts them and "
                f"cannot be split; a {platform} post holds {rules.limit}"
            )
    return None


def _urls_intact(text: str, parts: Sequence[str], rules: TextRules) -> str | None:
    for start, end in rules.find_links(text):
        url = text[start:end]
        if not any(url in part for part in parts):
            return f"the link {url[:60]!r} would be cut between two posts"
    return None


def render(text: str, platform: str, rules: TextRules | None, *, images: int = 0) -> Rendering:
    """Render `text` under a platform's `rules` (None: it cannot publish there); a refusal names
    the platform and the reason."""
    limit = rules.limit if rules is not None else 0
    text = text.strip()
    if not text:
        return Rendering(platform, limit, refused=f"{platform}: the text is empty")
    if rules is None:
        return Rendering(platform, limit, refused=f"{platform}: announcements cannot be published there")
    if images:
        return Rendering(
            platform,
            limit,
            refused=f"{platform}: image upload is not supported yet; remove the images or link to them in the text",
        )
    token = _too_long_token(text, platform, rules)
    if token is not None:
        return Rendering(platform, limit, refused=token)
    try:
        raw = list(rules.parts(text))
    except ValueError as exc:
        return Rendering(platform, limit, refused=f"{platform}: {exc}")
    escape = rules.escape or str
    parts = tuple(Part(escape(p), rules.measure(p), p) for p in raw)
    over = [i for i, p in enumerate(parts, 1) if p.length > limit]
    if over:
        return Rendering(platform, limit, refused=f"{platform}: part {over[0]} would exceed {limit} characters")
    cut = _urls_intact(text, raw, rules)
    if cut is not None:
        return Rendering(platform, limit, refused=f"{platform}: {cut}")
    warnings = (f"{platform}: posted as {len(parts)} parts",) if len(parts) > 1 else ()
    return Rendering(platform, limit, parts, rules.parse_mode, warnings=warnings)


def rules_for(target: Target, capabilities: CapabilityLookup) -> TextRules | None:
    """The target's text rules, or None when its connector cannot publish to that destination."""
    caps = capabilities(target.platform, target.account)
    if caps is None or target.destination not in caps.announcements:
        return None
    return caps.public


def render_target(announcement: Announcement, target: Target, capabilities: CapabilityLookup) -> Rendering:
    return render(
        announcement.text_for(target.platform),
        target.platform,
        rules_for(target, capabilities),
        images=len(announcement.images),
    )


def preview(announcement: Announcement, capabilities: CapabilityLookup) -> list[tuple[Target, Rendering]]:
    """Every target with its rendering (the console's preview and the refusal reasons)."""
    return [(t, render_target(announcement, t, capabilities)) for t in announcement.targets]


def refusals(announcement: Announcement, capabilities: CapabilityLookup) -> list[str]:
    return sorted({r.refused for _, r in preview(announcement, capabilities) if r.refused is not None})
