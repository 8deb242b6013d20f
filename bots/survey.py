"""The satisfaction survey: asked once when a conversation is resolved, answered 1–5."""

from __future__ import annotations

import re
import unicodedata

from routing.models import ReplyButton

from .base import BotReply
from .catalog import Catalog

_RATING = re.compile(r"^\s*([1-5])(?:\s*(?:/\s*5|점|分|点|stars?|⭐+))?(?:[\s,.:;!-]+(.*))?$",
                     re.IGNORECASE | re.DOTALL)


def survey_request(language: str, catalog: Catalog) -> BotReply:
    """The question, with 1–5 buttons where the platform has them (plain text elsewhere)."""
    buttons = tuple(ReplyButton(label=str(n), data=str(n)) for n in range(1, 6))
    return BotReply(catalog.text(language, "survey_ask"), buttons)


def parse_rating(text: str) -> tuple[int, str] | None:
    """(score, comment) from "5", "4 slow but fine", "３점", "5/5"; None if it is not a rating."""
    normalized = unicodedata.normalize("NFKC", text)
    match = _RATING.match(normalized)
    if match is None:
        return None
    return int(match.group(1)), (match.group(2) or "").strip()
