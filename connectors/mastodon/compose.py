"""Reply text to statuses: the recipient's @mention in front and a numbered chain when the text
passes the instance's character limit. Pure and deterministic, so a retry splits the same way and
its parts reuse the same idempotency keys.
"""

from __future__ import annotations

import re

DEFAULT_MAX_CHARACTERS = 500
_URL = re.compile(r"https?://\S+")
_TOKENS = re.compile(r"\s+|\S+")
_MIN_BODY = 40


def measure(text: str) -> int:
    """Characters as the instance counts them, never fewer: Mastodon counts every URL as 23, so
    a URL counts here as max(its length, 23)."""
    return len(text) + sum(max(0, 23 - len(m.group())) for m in _URL.finditer(text))


def with_mention(text: str, acct: str | None) -> str:
    """Put `@acct` in front unless the text already starts with it."""
    if not acct:
        return text
    mention = f"@{acct}"
    if text.startswith(mention) and text[len(mention) : len(mention) + 1] in ("", " ", "\n"):
        return text
    return f"{mention} {text}"


def _chunks(text: str, width: int) -> list[str]:
    """Greedy split at whitespace, preferring line breaks; a word longer than `width` is cut."""
    chunks: list[str] = []
    current = ""
    for token in _TOKENS.findall(text.strip()):
        if measure(current + token) <= width:
            current += token
            continue
        if current.strip():
            chunks.append(current.strip())
        current = "" if token.isspace() else token
        while measure(current) > width:
            chunks.append(current[:width])
            current = current[width:]
    if current.strip():
        chunks.append(current.strip())
    return chunks


def split_reply(text: str, limit: int = DEFAULT_MAX_CHARACTERS, acct: str | None = None) -> list[str]:
    """Statuses for `text`: one when it fits, else "(i/n)"-numbered parts, each starting with
    `@acct` (a direct part without it would be visible to nobody but us)."""
    prefix = f"@{acct} " if acct else ""
    body = text.strip()
    if prefix and with_mention(body, acct) == body:  # the text already addresses them
        body = body[len(prefix) - 1 :].strip()
    if measure(prefix + body) <= limit:
        return [prefix + body]
    count = 2
    while True:
        suffix = len(f" ({count}/{count})")
        width = limit - len(prefix) - suffix
        if width < _MIN_BODY:
            raise ValueError(f"max_characters={limit} leaves no room for a reply to @{acct}")
        chunks = _chunks(body, width)
        if len(chunks) <= count:
            break
        count = len(chunks)
    n = len(chunks)
    return [f"{prefix}{chunk} ({i}/{n})" for i, chunk in enumerate(chunks, start=1)]


def idempotency_key(reply_id: str, part: int) -> str:
    """The reply id itself for the first (usually only) status; `<reply id>:<n>` for part n."""
    return reply_id if part == 1 else f"{reply_id}:{part}"
