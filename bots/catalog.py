"""User-facing text, per language, from `bots/catalogs/<lang>.toml`, falling back to English.

A catalog is a flat TOML table of message ids to `str.format` templates. A message missing in
the customer's language falls back to English; a message missing in English is a bug and raises.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "catalogs"
FALLBACK = "en"


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]], fallback: str = FALLBACK) -> None:
        if fallback not in messages:
            raise ValueError(f"the fallback catalog {fallback!r} is missing")
        self._messages = {lang: dict(table) for lang, table in messages.items()}
        self.fallback = fallback

    @classmethod
    def load(cls, folder: Path = CATALOG_DIR, fallback: str = FALLBACK) -> Catalog:
        messages: dict[str, dict[str, str]] = {}
        for path in sorted(folder.glob("*.toml")):
            with path.open("rb") as fh:
                table = tomllib.load(fh)
            bad = [k for k, v in table.items() if not isinstance(v, str)]
            if bad:
                raise ValueError(f"{path}: values must be strings: {bad}")
            messages[path.stem] = table
        return cls(messages, fallback)

    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._messages))

    def has(self, language: str, message_id: str) -> bool:
        return message_id in self._messages.get(language, {})

    def text(self, language: str, message_id: str, **params: object) -> str:
        table = self._messages.get(language, {})
        template = table.get(message_id)
        if template is None:
            template = self._messages[self.fallback].get(message_id)
        if template is None:
            raise KeyError(f"message {message_id!r} is in no catalog (not even {self.fallback!r})")
        return template.format(**params) if params else template


@cache
def default_catalog() -> Catalog:
    return Catalog.load()
