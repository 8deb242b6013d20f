import pytest
from telegram.helpers import escape_markdown

from helpline.connectors.telegram.emulator import check_formatting
from helpline.connectors.telegram.emulator_state import BotApiError
from helpline.connectors.telegram.text import escape_html, escape_markdown_v2, split_text, utf16_len


def test_short_text_is_one_part() -> None:
    assert split_text("  hello  ") == ["hello"]


def test_split_prefers_paragraphs() -> None:
    first = "a" * 3000
    second = "b" * 3000
    assert split_text(f"{first}\n\n{second}") == [first, second]


def test_split_at_sentence_then_word() -> None:
    sentence = ("The withdrawal is pending review. " * 200).strip()
    parts = split_text(sentence)
    assert len(parts) == 2
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert parts[0].endswith("review.")
    assert " ".join(parts) == sentence


def test_split_cjk_sentences_without_spaces() -> None:
    text = "出金は審査中です。" * 1000  # 9000 characters, no spaces at all
    parts = split_text(text)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text
    assert all(len(p) <= 4096 for p in parts)


def test_split_counts_utf16_units() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, no boundary: a hard cut that keeps surrogate pairs whole
    parts = split_text(text)
    assert [utf16_len(p) for p in parts] == [4096, 6000 - 4096]
    assert "".join(parts) == text


def test_split_is_deterministic_and_lossless_in_words() -> None:
    words = [f"word{i}" for i in range(3000)]
    text = " ".join(words)
    assert split_text(text) == split_text(text)
    assert " ".join(split_text(text)).split() == words


def test_escape_html() -> None:
    assert escape_html('<b>1 & 2</b> "x"') == "&lt;b&gt;1 &amp; 2&lt;/b&gt; &quot;x&quot;"
    assert escape_html("&amp;") == "&amp;amp;"  # already-escaped text is escaped again, on purpose


def test_html_escaped_text_is_accepted_and_raw_is_refused() -> None:
    raw = "Fee < 0.1 BTC & limit > 5 <script>"
    with pytest.raises(BotApiError):
        check_formatting(raw, "HTML")
    check_formatting(f"<b>Note</b>: {escape_html(raw)}", "HTML")


@pytest.mark.parametrize("text", ["1.5 BTC!", "a_b*c[d](e)~f`g>h#i+j-k=l|m{n}o.p!q\\r", "plain", "출금 (pending)."])
def test_escape_markdown_v2_matches_telegram_rules(text: str) -> None:
    escaped = escape_markdown_v2(text)
    check_formatting(f"*bold* {escaped}", "MarkdownV2")
    assert escaped == escape_markdown(text, version=2)
    # unescaping gives the original back
    assert escaped.replace("\\\\", "\x00").replace("\\", "").replace("\x00", "\\") == text


def test_markdown_v2_unescaped_is_refused() -> None:
    with pytest.raises(BotApiError, match="reserved"):
        check_formatting("Price: 1.5 BTC", "MarkdownV2")


def test_escape_markdown_v2_inside_entities() -> None:
    assert escape_markdown_v2("a`b\\c.d", entity="code") == "a\\`b\\\\c.d"
    assert escape_markdown_v2("https://x.io/a_(b)", entity="link_url") == "https://x.io/a_(b\\)"
