"""Build the configured bots (`[bots.<name>]`, with `type` defaulting to the name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bots.autoreply import AutoReplyBot
from bots.base import Bot
from connectors.errors import ConfigError

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


_FACTORIES: dict[str, Callable[[str, dict[str, Any], Settings], Bot]] = {
    "autoreply": _autoreply,
}


def language_detector(supported: tuple[str, ...]) -> Callable[[str], str | None] | None:
    return None
