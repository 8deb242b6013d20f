from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpline.bots.language import LanguageDetector, message_language, resolve_language
from helpline.routing.models import Author, InboundMessage, MessageKind


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my withdrawal has been pending for hours", "en"),
        ("출금이 안 돼요", "ko"),
        ("USDT 입금했는데 안 들어와요", "ko"),  # English crypto words inside Korean
        ("出金が遅いです", "ja"),
        ("USDTが届かない", "ja"),
        ("提现一直没有到账怎么办", "zh"),
        ("我的账户被冻结了", "zh"),
    ],
)
def test_detects_language(detector: LanguageDetector, text: str, expected: str) -> None:
    assert detector.detect(text) == expected


@pytest.mark.parametrize("text", ["ok", "👍", "0x1234abcd", "入金", "?? !!", "https://example.com/x"])
def test_too_short_or_ambiguous_is_none(detector: LanguageDetector, text: str) -> None:
    # "入金" is both Chinese and Japanese: short kanji-only text must not be guessed.
    assert detector.detect(text) is None


def test_resolver_falls_back_in_order() -> None:
    assert resolve_language("ja", "ko", "en") == "ja"
    assert resolve_language(None, "ko", "en") == "ko"
    assert resolve_language(None, None, "en") == "en"
    assert resolve_language(None, "fr", "en") == "en"  # unsupported contact language
    assert resolve_language(None, "zh-CN", "en") == "zh"


def test_a_platform_label_the_script_contradicts_is_not_trusted() -> None:
    from helpline.bots.language import script_contradicts

    assert script_contradicts("en", "출금이 아직 안 됐어요")  # app set to English, message in Korean
    assert script_contradicts("zh", "出金がまだ届きません")  # kana: Japanese, not Chinese
    assert not script_contradicts("en", "my withdrawal is stuck")
    assert not script_contradicts("ko", "출금 USDT 문의")
    assert not script_contradicts("zh", "提现还没到账")
    assert script_contradicts("ko", "my withdrawal is stuck")  # ASCII text under a CJK label
    assert script_contradicts("ja", "提现还没到账")  # Han only, no kana: not plainly Japanese
    assert not script_contradicts("ja", "出金がまだ届きません")
    assert script_contradicts("zh", "출금 문의 提现")  # Hangul in it: not Chinese
    assert not script_contradicts("en", "café crème")  # non-ASCII Latin is not CJK


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("/start", "ko", "ko"),  # a command says nothing: the app's language stands
        ("/help", "de", None),  # a language we have no articles in is dropped
        ("where is my deposit, it has been hours", "fr", "en"),  # ... or replaced by what the text says
        ("where is my deposit, it has been hours", "ko", "en"),  # a label the script contradicts
        ("where is my deposit", "en", "en"),
    ],
)
def test_message_language(detector: LanguageDetector, text: str, label: str, expected: str | None) -> None:
    normalize = message_language(detector.detect, ("en", "ko", "zh", "ja"))
    message = InboundMessage(
        platform="telegram",
        account="a",
        kind=MessageKind.DIRECT,
        message_id="1",
        thread_key="chat:1",
        author=Author(user_id="1"),
        text=text,
        language=label,
        platform_time=datetime.now(UTC),
    )
    assert normalize(message).language == expected
