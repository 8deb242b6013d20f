"""Language detection for short customer messages, and the customer-language resolver.

Scripts decide where they are certain (Hangul is Korean, kana is Japanese); lingua decides the
rest, restricted to the languages we serve. Han-only text is the hard case: a two-character
"入金" is both Chinese and Japanese, so short Han-only text returns None and the resolver falls
back to what we already know about the customer.

Building a lingua detector takes a while and holds its models in memory: build one per process
(`LanguageDetector(...)` once, at startup) and share it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from helpline.routing.models import InboundMessage

DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "ko", "zh", "ja")

# Noise that says nothing about the language: bot commands (/start), links, handles, hashtags,
# hex/tx ids, numbers.
_NOISE = re.compile(
    r"(?<!\S)/[A-Za-z]\w*(?:@\w+)?|https?://\S+|[@#]\w+|0x[0-9a-fA-F]+|\b[0-9a-fA-F]{16,}\b|[\d.,:/%+-]+"
)
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_LATIN = re.compile(r"[a-zA-Z]")


_SCRIPT_OF = {"ko": _HANGUL, "ja": _KANA, "zh": _HAN}
_KOREAN_OR_KANA = re.compile(f"{_HANGUL.pattern}|{_KANA.pattern}")
_ANY_CJK = re.compile(f"{_HANGUL.pattern}|{_KANA.pattern}|{_HAN.pattern}")


def script_contradicts(label: str, text: str) -> bool:
    """A platform's language label that the text's script plainly contradicts (an app set to
    English, a message in Korean): cheap, so the router can trust labels that fit. (One search
    that stops at the first telling character, where one will do.)"""
    if text.isascii():  # the common case, decided without a regular expression
        return label in _SCRIPT_OF
    if label == "ko":
        return not _HANGUL.search(text)
    if label == "ja":
        return not _KANA.search(text)
    if label == "zh":
        return not _HAN.search(text) or bool(_KOREAN_OR_KANA.search(text))
    return bool(_ANY_CJK.search(text))


class LanguageDetector:
    """Detects one of the configured languages, or None when the text does not say enough."""

    def __init__(
        self,
        languages: Iterable[str] = DEFAULT_LANGUAGES,
        *,
        threshold: float = 0.75,
        min_latin_letters: int = 4,
        min_han_chars: int = 4,
    ) -> None:
        self.languages = tuple(languages)
        self.threshold = threshold
        self.min_latin_letters = min_latin_letters
        self.min_han_chars = min_han_chars
        lingua_languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in self.languages]
        if len(lingua_languages) == 1:
            lingua_languages.append(Language.ENGLISH if lingua_languages[0] != Language.ENGLISH else Language.KOREAN)
        self._detector = LanguageDetectorBuilder.from_languages(*lingua_languages).build()
        self._han_detector = (
            LanguageDetectorBuilder.from_languages(Language.CHINESE, Language.JAPANESE).build()
            if {"zh", "ja"} <= set(self.languages)
            else None
        )

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of `text`'s language, or None if too short, mixed or uncertain."""
        clean = _NOISE.sub(" ", unicodedata.normalize("NFKC", text))
        hangul = len(_HANGUL.findall(clean))
        kana = len(_KANA.findall(clean))
        han = len(_HAN.findall(clean))
        latin = len(_LATIN.findall(clean))
        # Customers mix English crypto words (USDT, OTP, KYC) into CJK text; the CJK script wins.
        if hangul and "ko" in self.languages and hangul >= kana + han:
            return "ko"
        if kana and "ja" in self.languages and kana + han >= hangul:
            return "ja"
        if han:
            return self._detect_han(clean, han)
        if latin < self.min_latin_letters:
            return None
        return self._confident(self._detector, clean)

    def _detect_han(self, clean: str, han: int) -> str | None:
        only = [c for c in ("zh", "ja") if c in self.languages]
        if len(only) == 1:
            return only[0]
        if han < self.min_han_chars or self._han_detector is None:
            return None  # too short to tell Chinese from Japanese kanji
        han_text = "".join(_HAN.findall(clean))
        return self._confident(self._han_detector, han_text)

    def _confident(self, detector: object, text: str) -> str | None:
        values = detector.compute_language_confidence_values(text)  # type: ignore[attr-defined]
        if not values:
            return None
        best = values[0]
        if best.value < self.threshold:
            return None
        code = str(best.language.iso_code_639_1.name).lower()
        return code if code in self.languages else None


def resolve_language(
    detected: str | None,
    contact_language: str | None,
    account_default: str,
    supported: Iterable[str] = DEFAULT_LANGUAGES,
) -> str:
    """Message language, else the contact's last known language, else the account's default."""
    allowed = set(supported)
    for candidate in (detected, contact_language):
        if candidate and candidate.split("-")[0] in allowed:
            return candidate.split("-")[0]
    return account_default


def message_language(
    detect: Callable[[str], str | None], supported: Iterable[str] | None = None
) -> Callable[[InboundMessage], InboundMessage]:
    """The router's normalizer: detect the language when the platform gave none, or gave one the
    text contradicts. A platform's label outside `supported` (a Telegram app in German sending
    /start) that detection cannot replace is dropped, so the conversation falls back to what we
    know rather than to a language we have no articles in. (Detection is deterministic, so a
    redelivered message gets the same one.)"""
    allowed = None if supported is None else frozenset(supported)

    def normalize(message: InboundMessage) -> InboundMessage:
        label = message.language
        unsupported = label is not None and allowed is not None and label.split("-")[0] not in allowed
        if not message.text:
            return message.model_copy(update={"language": None}) if unsupported else message
        if label is None or unsupported or script_contradicts(label, message.text):
            language = detect(message.text)
            if language is None and unsupported:
                return message.model_copy(update={"language": None})
            if language is not None and language != label:
                return message.model_copy(update={"language": language})
        return message

    return normalize
