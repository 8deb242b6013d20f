import pytest

from helpline.connectors.x.text import find_urls, split_plain, split_thread, weighted_length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("안녕하세요", 10),  # Hangul weighs 2
        ("你好", 4),
        ("こんにちは", 10),
        ("café", 4),  # Latin-1 and extended Latin weigh 1
        ("e\u0301", 1),  # NFC folds e + combining acute into é
        ("“quotes” — dash", 15),  # general punctuation ranges weigh 1
        ("😀", 2),
        ("👍🏽", 2),  # skin tone modifier: one emoji
        ("👨\u200d👩\u200d👧\u200d👦", 2),  # ZWJ family: one emoji
        ("🇰🇷", 2),  # flag: one emoji
        ("1️⃣", 2),  # keycap
        ("©", 1),
        ("©️", 2),
    ],
)
def test_weighted_length(text: str, length: int) -> None:
    assert weighted_length(text) == length


def test_urls_count_23_whatever_their_length() -> None:
    short = "see https://x.co now"
    long = "see https://support.example.com/hc/en-us/articles/360001234567-How-to-withdraw?lang=ko now"
    assert weighted_length(short) == weighted_length(long) == 4 + 23 + 4
    assert weighted_length("binance.com") == 23
    assert find_urls("(https://a.io/x).") == [(1, 15)]


def test_280_limit_boundary() -> None:
    assert weighted_length("a" * 280) == 280
    assert weighted_length("가" * 140) == 280
    assert split_thread("가" * 140) == ["가" * 140]
    assert len(split_thread("가" * 141)) == 2


def test_short_text_is_one_unnumbered_part() -> None:
    assert split_thread("Hi! We are on it.") == ["Hi! We are on it."]


def test_long_english_splits_at_sentences_numbered() -> None:
    sentences = [f"Step {i}: open the wallet page and check the network fee." for i in range(12)]
    parts = split_thread(" ".join(sentences))
    assert len(parts) > 1
    for i, part in enumerate(parts, 1):
        assert part.startswith(f"{i}/{len(parts)} ")
        assert weighted_length(part) <= 280
        assert part.endswith("fee.")  # cut between sentences, never inside one
    rebuilt = " ".join(p.split(" ", 1)[1] for p in parts)
    assert rebuilt == " ".join(sentences)


def test_cjk_without_spaces_splits_by_weight() -> None:
    text = "您的提现正在处理中，请耐心等待。" * 30
    parts = split_thread(text)
    assert all(weighted_length(p) <= 280 for p in parts)
    assert "".join(p.split(" ", 1)[1] for p in parts) == text
    assert parts[0].endswith("。")  # sentence boundary preferred


def test_unbreakable_run_is_cut_by_characters() -> None:
    parts = split_thread("长" * 700)
    assert len(parts) == 6
    assert all(weighted_length(p) <= 280 for p in parts)
    assert "".join(p.split(" ", 1)[1] for p in parts) == "长" * 700


def test_url_is_never_cut() -> None:
    url = "https://support.example.com/" + "a" * 400
    parts = split_thread(("word " * 60) + url + " done.")
    assert any(url in p for p in parts)
    assert all(weighted_length(p) <= 280 for p in parts)


def test_split_is_deterministic() -> None:
    text = "Lorem ipsum dolor sit amet. " * 40
    assert split_thread(text) == split_thread(text)


def test_dm_split_plain_at_10000() -> None:
    assert split_plain("short") == ["short"]
    parts = split_plain("This is a long direct message sentence. " * 400)
    assert len(parts) == 2
    assert all(len(p) <= 10_000 for p in parts)
    assert not parts[1][0].isdigit()  # DMs are not numbered
