"""Customer-facing texts of announcements and incidents, per language, from catalogs/<lang>.toml.

A missing language or key falls back to English; a key missing in English is a bug (KeyError)."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "catalogs"
FALLBACK = "en"


class Catalog:
    def __init__(self, directory: Path = CATALOG_DIR) -> None:
        self.texts: dict[str, dict[str, str]] = {}
        for file in sorted(directory.glob("*.toml")):
            with file.open("rb") as handle:
                self.texts[file.stem] = {k: str(v) for k, v in tomllib.load(handle).items()}
        if FALLBACK not in self.texts:
            raise FileNotFoundError(f"{directory}/{FALLBACK}.toml: the fallback catalog is missing")

    @property
    def languages(self) -> list[str]:
        return sorted(self.texts)

    def text(self, key: str, language: str | None, **values: str) -> str:
        lang = (language or FALLBACK).split("-", 1)[0].lower()
        template = self.texts.get(lang, {}).get(key) or self.texts[FALLBACK][key]
        return template.format(**values)


@cache
def default_catalog() -> Catalog:
    return Catalog()
