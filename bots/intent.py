"""Pure detection of what a message asks for or contains: a human, account details, an emergency.

Word lists are data (`bots/data/intents.<lang>.toml`); the structural patterns (an e-mail, a
64-hex string, a WIF key) are the same in every language and live here. Every language's lists
are checked on every message: customers mix languages ("OTP 리셋 agent please").

A secret (seed phrase, private key, password) is different from personal data (e-mail, phone,
UID, order id, tx hash): personal data only has to move out of a public thread, while a posted
secret means the customer's funds are at risk and they must be warned.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
LANGUAGES = ("en", "ko", "zh", "ja")


class Detail(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    UID = "uid"
    ORDER_ID = "order_id"
    TX_HASH = "tx_hash"
    ADDRESS = "address"
    ID_NUMBER = "id_number"  # a long number whose kind the context does not say
    ACCOUNT_REFERENCE = "account_reference"  # "my account", "check my order"
    SEED_PHRASE = "seed_phrase"
    PRIVATE_KEY = "private_key"
    PASSWORD = "password"  # noqa: S105 (a detail kind, not a credential)


SECRETS = frozenset({Detail.SEED_PHRASE, Detail.PRIVATE_KEY, Detail.PASSWORD})

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HEX64 = re.compile(r"(?<![0-9a-z])(0x)?[0-9a-f]{64}(?![0-9a-z])")
_ADDRESS = re.compile(r"(?<![0-9a-z])0x[0-9a-f]{40}(?![0-9a-z])")
_BTC_ADDRESS = re.compile(r"(?<![0-9a-z])(?:bc1[02-9ac-hj-np-z]{25,59}|[13][1-9a-hj-np-z]{25,34})(?![0-9a-z])")
_WIF = re.compile(r"(?<![0-9A-Za-z])(?:5[1-9A-HJ-NP-Za-km-z]{50}|[KL][1-9A-HJ-NP-Za-km-z]{51})(?![0-9A-Za-z])")
_XPRV = re.compile(r"[xyz]prv[1-9A-HJ-NP-Za-km-z]{100,}")
_PHONE = re.compile(r"(?<![\w.])(?:\+\d{1,3}[\s-]?)?(?:\(?\d{2,4}\)?[\s-]){1,3}\d{3,4}(?![\w.])|\+\d{9,15}(?!\d)")
_NUMBER = re.compile(r"(?<![\d.,])\d{6,20}(?![\d.,])")
_ORDER_CODE = re.compile(r"[a-z0-9-]*\d[a-z0-9-]{5,}")
_WORD = re.compile(r"[a-z]+")
_COMMAND = re.compile(r"^/([a-z][a-z0-9_]{0,31})(?:@\w+)?(?:\s|$)", re.IGNORECASE)
_PUNCT = re.compile(r"[\s!?.,。、！？~…:;\"'()\[\]👍🙏😊🙂]+")


@dataclass(frozen=True)
class Lexicon:
    """Every language's word lists, merged per list name."""

    lists: dict[str, tuple[str, ...]]

    def get(self, name: str) -> tuple[str, ...]:
        return self.lists.get(name, ())


def load_lexicon(data_dir: Path = DATA_DIR, languages: tuple[str, ...] = LANGUAGES) -> Lexicon:
    merged: dict[str, list[str]] = {}
    for lang in languages:
        path = data_dir / f"intents.{lang}.toml"
        if not path.exists():
            continue
        with path.open("rb") as fh:
            for name, words in tomllib.load(fh).items():
                merged.setdefault(name, []).extend(_norm(w) for w in words)
    return Lexicon({name: tuple(dict.fromkeys(words)) for name, words in merged.items()})


@cache
def default_lexicon() -> Lexicon:
    return load_lexicon()


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@cache
def _term_pattern(term: str) -> re.Pattern[str]:
    # Latin terms match whole words ("pin" is not in "spinning"); CJK terms have no word edges.
    if term.isascii():
        return re.compile(r"(?<![a-z0-9])" + re.escape(term) + r"(?![a-z0-9])")
    return re.compile(re.escape(term))


def _mentions(text: str, terms: tuple[str, ...]) -> bool:
    return any(_term_pattern(t).search(text) for t in terms)


@dataclass(frozen=True)
class Intents:
    human: bool
    urgent: bool
    details: frozenset[Detail]

    @property
    def secret(self) -> bool:
        return bool(self.details & SECRETS)

    @property
    def account_specific(self) -> bool:
        return bool(self.details)


def detect(text: str, lexicon: Lexicon | None = None) -> Intents:
    lex = lexicon or default_lexicon()
    norm = _norm(text)
    return Intents(
        human=_mentions(norm, lex.get("human")),
        urgent=_mentions(norm, lex.get("urgent")),
        details=account_details(text, lex),
    )


def account_details(text: str, lexicon: Lexicon | None = None) -> frozenset[Detail]:
    """The kinds of account-specific detail a message contains or refers to."""
    lex = lexicon or default_lexicon()
    raw = unicodedata.normalize("NFKC", text)
    norm = raw.casefold()
    found: set[Detail] = set()
    if _EMAIL.search(norm):
        found.add(Detail.EMAIL)
    rest = _EMAIL.sub(" ", norm)
    if _WIF.search(raw) or _XPRV.search(raw):
        found.add(Detail.PRIVATE_KEY)
    if _HEX64.search(rest):
        # The same 64 hex digits are a tx hash or a private key; only the words around them tell,
        # and when they say both we assume the worse.
        if _mentions(norm, lex.get("private_key_terms")):
            found.add(Detail.PRIVATE_KEY)
        if not found & {Detail.PRIVATE_KEY} or _mentions(norm, lex.get("tx_terms")):
            found.add(Detail.TX_HASH)
    rest = _HEX64.sub(" ", rest)
    if _ADDRESS.search(rest) or _BTC_ADDRESS.search(rest):
        found.add(Detail.ADDRESS)
    rest = _BTC_ADDRESS.sub(" ", _ADDRESS.sub(" ", rest))
    if _has_seed_phrase(rest, lex):
        found.add(Detail.SEED_PHRASE)
    if _has_password(norm, lex):
        found.add(Detail.PASSWORD)
    found |= _numbers(rest, lex)
    if _mentions(norm, lex.get("account_request")):
        found.add(Detail.ACCOUNT_REFERENCE)
    return frozenset(found)


def _numbers(text: str, lex: Lexicon) -> set[Detail]:
    found: set[Detail] = set()
    if _mentions(text, lex.get("order_terms")) and any(
        re.search(r"\d", m.group(0)) for m in _ORDER_CODE.finditer(text)
    ):
        found.add(Detail.ORDER_ID)
    if _PHONE.search(text):
        found.add(Detail.PHONE)
    for _ in _NUMBER.finditer(_PHONE.sub(" ", text)):
        if _mentions(text, lex.get("uid_terms")):
            found.add(Detail.UID)
        elif _mentions(text, lex.get("phone_terms")):
            found.add(Detail.PHONE)
        elif Detail.ORDER_ID not in found:
            found.add(Detail.ID_NUMBER)
    return found


def _has_seed_phrase(text: str, lex: Lexicon) -> bool:
    # BIP-39 words are 3-8 lowercase letters and almost never function words; prose breaks runs.
    function_words = set(lex.get("function_words"))
    run = 0
    common = 0
    for token in re.split(r"[\s,]+|\d+[.)]?", text):
        if not token:
            continue
        if _WORD.fullmatch(token) and 3 <= len(token) <= 8:
            common += token in function_words
            run += 1
            if common > 1:
                run, common = 0, 0
            if run >= 12:
                return True
        else:
            run, common = 0, 0
    return False


def _has_password(norm: str, lex: Lexicon) -> bool:
    links = "|".join(re.escape(x) for x in lex.get("password_links"))
    for term in lex.get("password_terms"):
        head = _term_pattern(term).pattern
        pattern = rf"{head}\s*(?:{links})\s*(\S+)"
        for m in re.finditer(pattern, norm):
            value = m.group(1)
            # A password is ASCII with a digit or symbol; "password is wrong" is not a secret.
            if value.isascii() and len(value) >= 6 and re.search(r"[\d\W_]", value):
                return True
    return False


def feedback(text: str, lexicon: Lexicon | None = None) -> str | None:
    """ "yes" / "no" when the message answers "Did this solve it?", else None.

    Only the start of a message, or a short message, counts: "不到账" inside a new question is
    not a "no". A "yes" followed by a question (a question mark, or a `question` word after it)
    is a new question, not a confirmation; a "no" followed by details stays a "no" (the bot
    searches again with them).
    """
    lex = lexicon or default_lexicon()
    norm = _PUNCT.sub(" ", _norm(text)).strip()
    if not norm:
        return None
    answer, rest = _feedback_term(norm, lex)
    if answer == "yes" and rest.strip() and ("?" in text or "？" in text or _mentions(rest, lex.get("question"))):
        return None  # "thanks, and how long does a withdrawal take?" asks a new question
    return answer


def _feedback_term(norm: str, lex: Lexicon) -> tuple[str | None, str]:
    """The answer a yes/no word gives, and what the message says besides that word."""
    # "No" first: "해결 안 됐어요" contains the "yes" word "해결".
    for answer in ("no", "yes"):
        for term in sorted(lex.get(answer), key=len, reverse=True):
            if norm == term or (norm.startswith(term) and _term_pattern(term).match(norm)):
                return answer, norm[len(term) :]
    short = len(norm) <= 12 if not norm.isascii() else len(norm.split()) <= 4
    if short:
        for answer in ("no", "yes"):
            for term in lex.get(answer):
                if _term_pattern(term).search(norm):
                    return answer, _term_pattern(term).sub(" ", norm, count=1)
    return None, ""


def bot_command(text: str) -> str | None:
    """ "start" for "/start", "/start@helpline_bot" or "/start payload"; None for any other text."""
    match = _COMMAND.match(text.strip())
    return match.group(1).lower() if match else None
