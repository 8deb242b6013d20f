"""Canned responses: per-language variants with placeholders, stored in one Redis hash.

Rendering is pure: pick the conversation's language (else English, else any variant), then fill
`{{contact.name}}`, `{{contact.handle}}`, `{{agent.name}}`. Unknown placeholders stay visible so
an agent notices them before sending.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Annotated

import redis.asyncio as redis
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from helpline.routing import keys

FALLBACK_LANGUAGE = "en"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
ID_PATTERN = r"^[a-z0-9-]{1,40}$"


def _some_text(value: dict[str, str]) -> dict[str, str]:
    if not value or not all(t.strip() for t in value.values()):
        raise ValueError("at least one non-empty variant is required")
    return value


#: language -> text; shared by the stored model and the API's input, so both refuse the same.
CannedTexts = Annotated[dict[str, str], AfterValidator(_some_text)]


class CannedResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: secrets.token_hex(4), pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=80)
    texts: CannedTexts
    #: The help-center article this response gives (its key): a reply from it teaches the bot.
    article: str | None = Field(default=None, min_length=1, max_length=200)


def pick_variant(canned: CannedResponse, language: str | None) -> tuple[str, str]:
    """(language, text) of the best variant for a conversation's language."""
    for lang in (language, (language or "").split("-")[0], FALLBACK_LANGUAGE):
        if lang and lang in canned.texts:
            return lang, canned.texts[lang]
    lang = sorted(canned.texts)[0]
    return lang, canned.texts[lang]


def fill(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def render(canned: CannedResponse, language: str | None, values: Mapping[str, str]) -> tuple[str, str]:
    lang, text = pick_variant(canned, language)
    return lang, fill(text, values)


class CannedStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def list(self) -> list[CannedResponse]:
        raw = await self.client.hvals(keys.console_canned())  # type: ignore[misc]
        return sorted((CannedResponse.model_validate_json(r) for r in raw), key=lambda c: c.title.lower())

    async def get(self, canned_id: str) -> CannedResponse | None:
        raw = await self.client.hget(keys.console_canned(), canned_id)  # type: ignore[misc]
        return None if raw is None else CannedResponse.model_validate_json(raw)

    async def put(self, canned: CannedResponse) -> CannedResponse:
        """Create or replace. Idempotent."""
        await self.client.hset(keys.console_canned(), canned.id, canned.model_dump_json())  # type: ignore[misc]
        return canned

    async def delete(self, canned_id: str) -> bool:
        return bool(await self.client.hdel(keys.console_canned(), canned_id))  # type: ignore[misc]
