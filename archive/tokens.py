"""Search tokens, the same on both engines: what is indexed and what is asked for are tokenized
alike, so matching is exact token equality (no engine-specific stemming or word breaking).

- Latin letters and digits: NFKC, casefolded words ("Withdrawal" → "withdrawal"); a handle
  "@whale_trader" gives "whale" and "trader".
- Hangul, Han and kana (no spaces between words): every pair of adjacent characters, so the
  two-character terms customers search for (출금, 提现, 出金) match inside longer runs ("출금이",
  "提现失败", "出金できない"); a lone character stays a token of its own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_CJK = re.compile(r"[\uac00-\ud7a3\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # _WORD on ASCII text (NFKC and casefold change nothing else there)
MAX_TOKEN = 64  # longer "words" are noise (hashes, base64); they are cut, not dropped


def tokens(text: str) -> list[str]:
    """The search tokens of a text, in order, repeats included."""
    if text.isascii():  # the common case, the same tokens without the per-word work
        return [word[:MAX_TOKEN] for word in _ASCII_WORD.findall(text.lower())]
    return _unicode_tokens(text)


def _unicode_tokens(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        if not _CJK.search(word):
            out.append(word[:MAX_TOKEN])
            continue
        at = 0
        for run in _CJK.finditer(word):
            if run.start() > at:
                out.append(word[at : run.start()][:MAX_TOKEN])
            chars = run.group()
            out.extend(chars if len(chars) == 1 else (chars[i : i + 2] for i in range(len(chars) - 1)))
            at = run.end()
        if at < len(word):
            out.append(word[at:][:MAX_TOKEN])
    return out


def document(texts: Iterable[str], start: str = "") -> str:
    """The distinct tokens of `texts` added to a document (tokens joined by spaces)."""
    seen = dict.fromkeys(start.split()) if start else {}
    for text in dict.fromkeys(texts):  # a name or a bot's answer repeats in a conversation
        if text:
            seen.update(dict.fromkeys(tokens(text)))
    return " ".join(seen)
