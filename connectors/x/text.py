"""Tweet length as X counts it (twitter-text v3 weighting) and splitting into numbered threads.

The v3 rules: text is NFC-normalised; every code point weighs 2 except those in a few ranges
(Latin to Georgian, some spaces, dashes and quotes) that weigh 1; an emoji sequence (flags, skin
tones, ZWJ families, keycaps) weighs 2 as a whole; a URL weighs 23 whatever its length. The limit
is 280. The PyPI package `twitter-text-parser` is untyped and unmaintained, so the rules live here.

Known approximation: URLs are recognised with a scheme (http/https), a `www.` prefix, or a bare
domain under a short list of common TLDs; twitter-text's full TLD list is not reproduced.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

MAX_TWEET = 280
MAX_DM = 10_000
URL_WEIGHT = 23

_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

_TLDS = "com|net|org|io|co|me|ly|gg|app|dev|info|biz|xyz|kr|jp|cn|tw|hk|sg|uk|de|fr|us|ca|au|in"
_URL = re.compile(
    r"(?:https?://[^\s<>\"]+|www\.[^\s<>\"]+|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:"
    + _TLDS
    + r")\b(?:/[^\s<>\"]*)?)",
    re.IGNORECASE,
)
_URL_TRAILING_PUNCT = ".,:;!?)]}'\""

_ZWJ = 0x200D
_VS16 = 0xFE0F
_KEYCAP = 0x20E3


def _is_light(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES)


def _is_pictographic(cp: int) -> bool:
    return (
        0x1F000 <= cp <= 0x1FAFF
        or 0x2600 <= cp <= 0x27BF
        or 0x2B00 <= cp <= 0x2BFF
        or 0x2300 <= cp <= 0x23FF
        or cp in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _is_regional(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _is_modifier(cp: int) -> bool:
    return 0x1F3FB <= cp <= 0x1F3FF or cp == _VS16 or 0xE0020 <= cp <= 0xE007F


def _emoji_end(text: str, i: int) -> int:
    """End index of the emoji sequence starting at `i`, or `i` if none starts there."""
    n = len(text)
    cp = ord(text[i])
    if _is_regional(cp):
        return i + 2 if i + 1 < n and _is_regional(ord(text[i + 1])) else i + 1
    if text[i] in "0123456789#*":
        j = i + 1
        if j < n and ord(text[j]) == _VS16:
            j += 1
        return j + 1 if j < n and ord(text[j]) == _KEYCAP else i
    if not _is_pictographic(cp):
        return i
    text_default = cp < 0x2000 or 0x2100 <= cp <= 0x21FF or cp in (0x203C, 0x2049, 0x3030, 0x303D, 0x3297, 0x3299)
    if text_default and not (i + 1 < n and ord(text[i + 1]) == _VS16):
        return i  # ©, ™, ‼ are emoji only with the emoji presentation selector
    j = i + 1
    while j < n:
        c = ord(text[j])
        if _is_modifier(c) or c == 0xE007F:
            j += 1
        elif c == _ZWJ and j + 1 < n and _is_pictographic(ord(text[j + 1])):
            j += 2
        else:
            break
    return j


def find_urls(text: str) -> list[tuple[int, int]]:
    """Spans of URLs in `text` (trailing punctuation is not part of a URL)."""
    spans = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAILING_PUNCT:
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def weighted_length(text: str) -> int:
    """Length of `text` as X counts it against the 280 limit. Pure."""
    text = unicodedata.normalize("NFC", text)
    urls = dict(find_urls(text))
    units = 0  # light code point 1, heavy 2, emoji sequence 2, URL 23
    i = 0
    n = len(text)
    while i < n:
        if i in urls:
            units += URL_WEIGHT
            i = urls[i]
            continue
        end = _emoji_end(text, i)
        if end > i:
            units += 2
            i = end
            continue
        units += 1 if _is_light(ord(text[i])) else 2
        i += 1
    return units


def fits(text: str) -> bool:
    return weighted_length(text) <= MAX_TWEET


# --- splitting -----------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|(?<=[。！？])|\n+")
_CLAUSE_END = re.compile(r"(?<=[，、；：])|(?<=[,;:])\s+")  # ASCII only before a space: not in URLs


def _units(text: str) -> Iterator[str]:
    """Sentences, in order; joined back by the packer with a single space (or nothing for CJK)."""
    for piece in _SENTENCE_END.split(text):
        if piece and piece.strip():
            yield piece.strip()


def _atoms(text: str) -> list[str]:
    """Smallest pieces a sentence may be cut into: URLs stay whole, words, then characters."""
    spans = find_urls(text)
    out: list[str] = []
    pos = 0
    for start, end in [*spans, (len(text), len(text))]:
        for word in re.split(r"(\s+)", text[pos:start]):
            if word:
                out.append(word)
        if end > start:
            out.append(text[start:end])
        pos = end
    return out


def _hard_cut(word: str, budget: int, measure: Callable[[str], int]) -> list[str]:
    """Cut a word with no break opportunity (a long CJK run) at character boundaries."""
    chunks: list[str] = []
    current = ""
    i = 0
    while i < len(word):
        end = max(_emoji_end(word, i), i + 1)
        piece = word[i:end]
        if current and measure(current + piece) > budget:
            chunks.append(current)
            current = ""
        current += piece
        i = end
    if current:
        chunks.append(current)
    return chunks


def _join(left: str, right: str) -> str:
    if not left:
        return right
    if left[-1] in "。！？，、；：" or right[:1] in "。！？，、":
        return left + right
    return f"{left} {right}"


def _pack(text: str, budget: int, measure: Callable[[str], int]) -> list[str]:
    """Greedy packing: whole sentences, else clauses, else words, else characters."""
    parts: list[str] = []
    current = ""

    def push(piece: str) -> None:
        nonlocal current
        candidate = _join(current, piece)
        if measure(candidate) <= budget:
            current = candidate
            return
        if current:
            parts.append(current)
            current = ""
        if measure(piece) <= budget:
            current = piece
            return
        # too long alone: descend a level
        clauses = [c for c in _CLAUSE_END.split(piece) if c.strip()]
        if len(clauses) > 1:
            for clause in clauses:
                push(clause.strip())
            return
        for atom in _atoms(piece):
            if atom.isspace():
                continue
            if measure(atom) <= budget:
                candidate = _join(current, atom)
                if measure(candidate) <= budget:
                    current = candidate
                else:
                    parts.append(current)
                    current = atom
            else:
                if current:
                    parts.append(current)
                    current = ""
                chunks = _hard_cut(atom, budget, measure)
                parts.extend(chunks[:-1])
                current = chunks[-1]

    for sentence in _units(text):
        push(sentence)
    if current:
        parts.append(current)
    return parts


def split_thread(text: str, limit: int = MAX_TWEET) -> list[str]:
    """Split `text` into tweets of at most `limit` weighted characters.

    One part is returned unchanged; several are numbered "1/3 ", "2/3 ", ... Cuts fall at
    sentence, then clause, then word boundaries; a URL is never cut. Pure and deterministic,
    so a retry of the same reply yields the same parts (which `SendProgress` relies on).
    """
    text = text.strip()
    if weighted_length(text) <= limit:
        return [text]
    total = 2
    while True:
        prefix_len = len(f"{total}/{total} ")
        parts = _pack(text, limit - prefix_len, weighted_length)
        if len(parts) <= total:
            return [f"{i}/{len(parts)} {p}" for i, p in enumerate(parts, 1)]
        total = len(parts)


def split_plain(text: str, limit: int = MAX_DM) -> list[str]:
    """Split a direct message that exceeds `limit` characters; unnumbered. Pure."""
    text = text.strip()
    if len(text) <= limit:
        return [text]
    return _pack(text, limit, len)
