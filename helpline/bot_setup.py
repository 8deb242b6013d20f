"""Build the configured bots (`[bots.<name>]`, with `type` defaulting to the name)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import httpx

from helpline.bots.autoreply import AutoReplyBot
from helpline.bots.base import Bot
from helpline.bots.generative import GenerativeSettings, Generator
from helpline.bots.helpcenter import HelpCenterBot, HelpCenterSettings
from helpline.bots.kb import KBError, load_kb
from helpline.bots.language import LanguageDetector
from helpline.bots.options import AutoReplyOptions, GenerativeOptions, HelpCenterOptions
from helpline.bots.search import Searcher
from helpline.connectors.errors import ConfigError

from .config import Settings


def build_bots(settings: Settings) -> dict[str, Bot]:
    return {name: build_bot(name, settings) for name in settings.bots}


def build_bot(name: str, settings: Settings) -> Bot:
    """The bot of `[bots.<name>]`; ConfigError names what is wrong (its KB, its texts)."""
    options = settings.bots[name]
    if isinstance(options, AutoReplyOptions):
        return _autoreply(name, options, settings)
    if isinstance(options, HelpCenterOptions):
        return _helpcenter(name, options, settings)
    raise ConfigError(f"bots.{name}.type: no builder for bot type {options.type!r}")


def _autoreply(name: str, options: AutoReplyOptions, settings: Settings) -> Bot:
    if settings.languages.default not in options.texts:
        raise ConfigError(f"bots.{name}.texts: a table of texts per language, including "
                          f"{settings.languages.default!r}")
    return AutoReplyBot(texts=dict(options.texts), name=name, handoff=options.handoff,
                        fallback_language=settings.languages.default)


def _helpcenter(name: str, options: HelpCenterOptions, settings: Settings) -> Bot:
    folder = Path(options.kb)
    if not folder.is_absolute():
        base = os.environ.get("HELPLINE_CONFIG_FILE")
        folder = (Path(base).parent if base else Path.cwd()) / folder
    try:
        kb = load_kb(folder, settings.languages.supported)
    except (KBError, OSError) as exc:
        raise ConfigError(f"bots.{name}.kb: {exc}") from None
    bot = HelpCenterBot(Searcher(kb, fallback_language=settings.languages.default),
                        settings=HelpCenterSettings(max_attempts=options.max_attempts),
                        generator=_generator(options.generative))
    bot.name = name
    return bot


def _generator(options: GenerativeOptions) -> Generator | None:
    """The optional OpenAI-compatible endpoint; its key comes from the environment."""
    if not options.enabled or options.base_url is None or options.model is None:
        return None
    settings = GenerativeSettings(base_url=options.base_url, model=options.model,
                                  api_key=os.environ.get(options.api_key_env, ""),
                                  timeout_seconds=options.timeout_seconds, enabled=True)
    return Generator(settings, httpx.AsyncClient(timeout=settings.timeout_seconds))


@cache
def _detector(supported: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetector(supported)  # slow to build: once per process


def language_detector(supported: tuple[str, ...]) -> Callable[[str], str | None]:
    return _detector(tuple(supported)).detect
