"""Build the configured bots (`[bots.<name>]`, with `type` defaulting to the name)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from helpline.bots.autoreply import AutoReplyBot
from helpline.bots.base import Bot
from helpline.bots.generative import GenerativeSettings, Generator
from helpline.bots.helpcenter import HelpCenterBot, HelpCenterSettings
from helpline.bots.kb import KBError, load_kb
from helpline.bots.language import LanguageDetector
from helpline.bots.search import Searcher
from helpline.connectors.errors import ConfigError

from .config import Settings


def build_bots(settings: Settings) -> dict[str, Bot]:
    built: dict[str, Bot] = {}
    for name, section in settings.bots.items():
        kind = str(section.get("type", name))
        factory = _FACTORIES.get(kind)
        if factory is None:
            raise ConfigError(f"bots.{name}.type: unknown bot type {kind!r} (known: {', '.join(sorted(_FACTORIES))})")
        built[name] = factory(name, {k: v for k, v in section.items() if k != "type"}, settings)
    return built


def _autoreply(name: str, options: dict[str, Any], settings: Settings) -> Bot:
    texts = options.get("texts")
    if not isinstance(texts, dict) or settings.languages.default not in texts:
        raise ConfigError(f"bots.{name}.texts: a table of texts per language, including "
                          f"{settings.languages.default!r}")
    return AutoReplyBot(texts={str(k): str(v) for k, v in texts.items()}, name=name,
                        handoff=bool(options.get("handoff", True)), fallback_language=settings.languages.default)


def _helpcenter(name: str, options: dict[str, Any], settings: Settings) -> Bot:
    folder = Path(str(options.get("kb", "kb")))
    if not folder.is_absolute():
        base = os.environ.get("HELPLINE_CONFIG_FILE")
        folder = (Path(base).parent if base else Path.cwd()) / folder
    try:
        kb = load_kb(folder, settings.languages.supported)
    except (KBError, OSError) as exc:
        raise ConfigError(f"bots.{name}.kb: {exc}") from None
    bot = HelpCenterBot(Searcher(kb, fallback_language=settings.languages.default),
                        settings=HelpCenterSettings(max_attempts=int(options.get("max_attempts", 2))),
                        generator=_generator(name, options.get("generative")))
    bot.name = name
    return bot


def _generator(name: str, section: Any) -> Generator | None:
    """The optional OpenAI-compatible endpoint; its key comes from the environment."""
    if not isinstance(section, dict) or not section.get("enabled"):
        return None
    try:
        settings = GenerativeSettings(
            base_url=str(section["base_url"]), model=str(section["model"]),
            api_key=os.environ.get(str(section.get("api_key_env", "HELPLINE_GENERATIVE_API_KEY")), ""),
            timeout_seconds=float(section.get("timeout_seconds", 8.0)), enabled=True,
        )
    except KeyError as exc:
        raise ConfigError(f"bots.{name}.generative.{exc.args[0]}: required when enabled") from None
    return Generator(settings, httpx.AsyncClient(timeout=settings.timeout_seconds))


_FACTORIES: dict[str, Callable[[str, dict[str, Any], Settings], Bot]] = {
    "autoreply": _autoreply,
    "helpcenter": _helpcenter,
}


@cache
def _detector(supported: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetector(supported)  # slow to build: once per process


def language_detector(supported: tuple[str, ...]) -> Callable[[str], str | None]:
    return _detector(tuple(supported)).detect
