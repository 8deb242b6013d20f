from __future__ import annotations

import pytest

from helpline.bots.intent import Detail, account_details, bot_command, detect, feedback

TX = "0x" + "3f" * 32
BTC_TXID = "a1" * 32
SEED = "abandon ability able about above absent absorb abstract absurd abuse access accident"


@pytest.mark.parametrize(
    "text",
    [
        "can I talk to a human please",
        "real person pls",
        "상담원 연결해 주세요",
        "转人工",
        "人工客服在吗",
        "オペレーターと話したい",
        "担当者につないでください",
    ],
)
def test_human_request_in_four_languages(text: str) -> None:
    assert detect(text).human


@pytest.mark.parametrize("text", ["how do I reset 2FA", "다른 사람이 보낸 코인", "入金方法", "充值地址"])
def test_no_false_human_request(text: str) -> None:
    assert not detect(text).human


@pytest.mark.parametrize(
    "text",
    [
        "my account was hacked",
        "unauthorized withdrawal from my account",
        "계정이 해킹당했어요",
        "무단 출금이 됐어요",
        "我的币被盗了",
        "账户被黑",
        "アカウントが乗っ取られた",
        "不正出金がありました",
    ],
)
def test_urgent_in_four_languages(text: str) -> None:
    assert detect(text).urgent


def test_tx_hash_is_personal_not_secret() -> None:
    for text in (f"my tx {TX} is not credited", f"txid {BTC_TXID}"):
        intents = detect(text)
        assert Detail.TX_HASH in intents.details and not intents.secret


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"here is my seed: {SEED}", Detail.SEED_PHRASE),
        (f"my private key is {BTC_TXID}", Detail.PRIVATE_KEY),
        ("5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ", Detail.PRIVATE_KEY),
        ("my password is Hunter22!", Detail.PASSWORD),
        ("비밀번호는 abc12345!", Detail.PASSWORD),
    ],
)
def test_secrets(text: str, kind: Detail) -> None:
    intents = detect(text)
    assert kind in intents.details and intents.secret


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("email me at jane.doe@example.com", Detail.EMAIL),
        ("call +82 10-1234-5678", Detail.PHONE),
        ("my UID is 12345678", Detail.UID),
        ("order 2024050112345 is stuck", Detail.ORDER_ID),
        ("can you check my account", Detail.ACCOUNT_REFERENCE),
        ("제 계정 확인해주세요", Detail.ACCOUNT_REFERENCE),
    ],
)
def test_personal_data_is_not_secret(text: str, kind: Detail) -> None:
    intents = detect(text)
    assert kind in intents.details and not intents.secret


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password",
        "password is wrong",
        "how do I deposit USDT",
        "I sent 0.5 BTC on 2024-05-01",
        "what is a seed phrase and should I share it",
    ],
)
def test_ordinary_questions_carry_no_details(text: str) -> None:
    assert account_details(text) == frozenset()


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", "yes"),
        ("Yes, thanks!", "yes"),
        ("네 감사합니다", "yes"),
        ("是的", "yes"),
        ("はい", "yes"),
        ("no", "no"),
        ("nope, still pending", "no"),
        ("해결 안 됐어요", "no"),
        ("没解决", "no"),
        ("いいえ", "no"),
        ("how do I deposit", None),
        ("nothing arrived in my wallet", None),
        # a thank-you that asks something new is a question, not a confirmation
        ("thanks, and how long does a withdrawal take?", None),
        ("thanks, how long does a withdrawal take", None),
        ("감사합니다, 그런데 출금은 얼마나 걸리나요?", None),
        ("谢谢，提现要多久？", None),
        ("ありがとう、出金はどのくらいかかりますか", None),
        ("it worked, thank you so much", "yes"),
        ("no, how do I do it then?", "no"),
    ],
)
def test_feedback(text: str, answer: str | None) -> None:
    assert feedback(text) == answer


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/start", "start"),
        ("/START@helpline_bot", "start"),
        ("/start subscribe", "start"),
        ("/help", "help"),
        ("hello /start", None),
        ("/", None),
        ("/2fa is lost", None),
        ("start", None),
    ],
)
def test_bot_command(text: str, command: str | None) -> None:
    assert bot_command(text) == command
