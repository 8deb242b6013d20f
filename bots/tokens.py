"""Tokenization for BM25 over English, Korean, Chinese and Japanese, without a dictionary.

- Latin words: NFKC + casefold and a light suffix strip. A query word the index has never seen is
  corrected to the one indexed word within a small edit distance that shares its first letter
  and a character trigram (`Speller`), so "withdrawl" finds "withdrawal"; a word with no such
  neighbour stays unknown (and so lowers the confidence, as an off-topic word should).
- Hangul: common endings and particles are stripped (a data list), then syllable bigrams within
  each word, so "입금이", "입금했는데" and "입금을" all give "입금"; one-syllable words stay whole.
- Han and kana (no spaces): Han unigrams plus bigrams of adjacent characters. Hiragana-only pairs
  and lone kana are dropped: they are mostly particles and inflections, and only add noise.

Stop words and synonym groups are per language data (`bots/data/search.<lang>.toml`), not code.
A synonym group's variants all add the group's first entry, so "cash out" and "withdraw" meet.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpline.bots.fusion import SIGNALS, Calibration

DATA_DIR = Path(__file__).parent / "data"

_SEGMENT = re.compile(
    r"(?P<latin>[a-z0-9]+)|(?P<hangul>[\uac00-\ud7a3]+)|(?P<cjk>[\u3041-\u30ff\u4e00-\u9fff\u3400-\u4dbf]+)"
)
_HIRAGANA = re.compile(r"^[\u3041-\u309f]+$")
_HAN_CHAR = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_LATIN_PHRASE = re.compile(r"^[a-z0-9 .'-]+$")


@dataclass(frozen=True)
class LanguageConfig:
    language: str
    threshold: float = 0.5
    stopwords: frozenset[str] = frozenset()
    synonyms: tuple[tuple[str, ...], ...] = ()
    suffixes: tuple[str, ...] = ()  # endings stripped from Hangul words, longest first
    hybrid: Calibration | None = None  # `[hybrid]`: the dense-retrieval calibration (bots.fusion)


def load_language_config(language: str, data_dir: Path = DATA_DIR) -> LanguageConfig:
    """Read `search.<lang>.toml`; a language without a file gets neutral defaults."""
    path = data_dir / f"search.{language}.toml"
    if not path.exists():
        return LanguageConfig(language=language)
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    return LanguageConfig(
        language=language,
        threshold=float(raw.get("threshold", 0.5)),
        stopwords=frozenset(normalize(w) for w in raw.get("stopwords", [])),
        synonyms=tuple(tuple(normalize(v) for v in group) for group in raw.get("synonyms", []) if group),
        suffixes=tuple(sorted((normalize(x) for x in raw.get("suffixes", [])), key=len, reverse=True)),
        hybrid=_calibration(raw["hybrid"], path.name) if "hybrid" in raw else None,
    )


_CALIBRATION_NUMBERS = ("dense_low", "dense_high", "answer", "clarify")
_CALIBRATION_OPTIONAL = ("typical_chars",)


def _calibration(raw: dict[str, Any], source: str) -> Calibration:
    """`[hybrid]`: numbers, and `weights`, a list of the learned coefficients (bots.fusion), none or
    one per signal. A table that does not fit is refused here, naming the field, rather than
    failing on every question (a table from `kb calibrate` of another version, a typo)."""
    unknown = sorted(set(raw) - {*_CALIBRATION_NUMBERS, *_CALIBRATION_OPTIONAL, "weights"})
    missing = [k for k in _CALIBRATION_NUMBERS if k not in raw]
    if unknown or missing:
        problems = ([f"unknown fields {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])
        raise ValueError(f"{source}: [hybrid]: {'; '.join(problems)}")
    try:
        numbers = {k: float(raw[k]) for k in (*_CALIBRATION_NUMBERS, *_CALIBRATION_OPTIONAL) if k in raw}
        weights = tuple(float(w) for w in raw.get("weights", ()))
    except (TypeError, ValueError):
        raise ValueError(f"{source}: [hybrid]: numbers expected") from None
    if weights and len(weights) != len(SIGNALS):
        raise ValueError(
            f"{source}: hybrid.weights: {len(weights)} values, expected {len(SIGNALS)} (one per signal: "
            f"{', '.join(SIGNALS)}); recalibrate with `helpline kb calibrate`"
        )
    return Calibration(**numbers, weights=weights)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _stem(word: str) -> str:
    # Just enough English morphology for FAQ matching; anything smarter belongs in the synonyms.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return _undouble(word[: -len(suffix)])
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # "trade", "trading" and "traded" all give "trad"; "fee" stays.
    if len(word) > 3 and word.endswith("e") and not word.endswith("ee"):
        return word[:-1]
    return word


def _undouble(stem: str) -> str:
    # "sett" (from "setting") -> "set", but keep "ll"/"ss" ("fill", "pass").
    if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsaeiou":
        return stem[:-1]
    return stem


def _trigrams(word: str) -> set[str]:
    padded = f"^{word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours costs 1), cut off above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        if min(row) > limit:
            return limit + 1
        prev2, prev = prev, row
    return prev[-1]


class Speller:
    """Typo correction against the words of one index. Built once; `correct` is pure."""

    MIN_LENGTH = 4  # shorter words are too easily another word ("fee" / "see")

    def __init__(self, words: Iterable[str]) -> None:
        self._by_trigram: dict[str, set[str]] = {}
        for word in words:
            if len(word) >= self.MIN_LENGTH and word.isalpha():
                for gram in _trigrams(word):
                    self._by_trigram.setdefault(gram, set()).add(word)

    def correct(self, word: str) -> str | None:
        """The closest indexed word (1 edit, or 2 for words of 8+ letters), or None."""
        if len(word) < self.MIN_LENGTH or not word.isalpha():
            return None
        limit = 1 if len(word) < 8 else 2
        candidates = {w for g in _trigrams(word) for w in self._by_trigram.get(g, ()) if w[0] == word[0]}
        scored = sorted((edit_distance(word, w, limit), w) for w in candidates)
        return scored[0][1] if scored and scored[0][0] <= limit else None


def _hangul_tokens(word: str, stopwords: frozenset[str], suffixes: tuple[str, ...]) -> list[str]:
    for suffix in suffixes:
        # "한도" is not "한"+"도", but "찼는데" is "찼"+"는데": two-syllable endings may leave one.
        if word.endswith(suffix) and len(word) - len(suffix) >= (1 if len(suffix) >= 2 else 2):
            word = word[: -len(suffix)]
            break
    if word in stopwords:
        return []
    if len(word) == 1:
        return [word]
    return [word[i : i + 2] for i in range(len(word) - 1)]


def _cjk_tokens(run: str, stopwords: frozenset[str]) -> list[str]:
    tokens = [c for c in run if _HAN_CHAR.match(c) and c not in stopwords]
    for i in range(len(run) - 1):
        pair = run[i : i + 2]
        if not _HIRAGANA.match(pair) and pair not in stopwords:
            tokens.append(pair)
    return tokens


class Tokenizer:
    """Text → tokens for one language's index. Pure; safe to share."""

    def __init__(self, config: LanguageConfig) -> None:
        self.config = config
        self._synonyms = [(group[0], [self._matcher(v) for v in group]) for group in config.synonyms]

    @staticmethod
    def _matcher(variant: str) -> re.Pattern[str]:
        # Latin variants must match whole words ("tag" is not in "stage"); CJK has no word edges.
        if _LATIN_PHRASE.match(variant):
            return re.compile(r"(?<![a-z0-9])" + re.escape(variant) + r"(?![a-z0-9])")
        return re.compile(re.escape(variant))

    def expand(self, text: str) -> str:
        """Normalized text plus the canonical form of every synonym group it mentions."""
        norm = normalize(text)
        # matchers[0] is the canonical form itself: present already, nothing to add.
        extra = [
            canon
            for canon, matchers in self._synonyms
            if not matchers[0].search(norm) and any(m.search(norm) for m in matchers[1:])
        ]
        return " ".join([norm, *extra])

    def _terms(self, text: str) -> list[tuple[str, str]]:
        """(kind, token) pairs; kind "word" for Latin stems, which may be spelling-corrected."""
        stop = self.config.stopwords
        terms: list[tuple[str, str]] = []
        for m in _SEGMENT.finditer(self.expand(text)):
            if m.group("latin"):
                word = m.group("latin")
                # Ids, amounts and hashes say nothing about the topic; they only dilute the query.
                if word not in stop and not (word.isdigit() and len(word) > 4) and len(word) <= 24:
                    terms.append(("word", _stem(word)))
            elif m.group("hangul"):
                terms.extend(("tok", t) for t in _hangul_tokens(m.group("hangul"), stop, self.config.suffixes))
            else:
                terms.extend(("tok", t) for t in _cjk_tokens(m.group("cjk"), stop))
        return terms

    def document(self, text: str) -> list[str]:
        """Tokens to index."""
        return [token for _, token in self._terms(text)]

    def query(self, text: str, vocabulary: Container[str], speller: Speller | None = None) -> list[str]:
        """Distinct query tokens; an unknown Latin word is replaced by its spelling correction, if any."""
        tokens: list[str] = []
        for kind, token in self._terms(text):
            if kind == "word" and token not in vocabulary and speller is not None:
                token = speller.correct(token) or token
            tokens.append(token)
        return list(dict.fromkeys(tokens))  # a repeated word is not more evidence
