from hypothesis import given
from hypothesis import strategies as st

from helpline.archive.tokens import _unicode_tokens, document, tokens


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_ascii_text_gets_the_tokens_of_the_general_path(text: str) -> None:
    assert tokens(text) == _unicode_tokens(text)


def test_words_and_cjk_bigrams() -> None:
    assert tokens("My Withdrawal, @whale_trader ＡＢＣ 출금이 提现失败 出金できない 金") == [
        "my",
        "withdrawal",
        "whale",
        "trader",
        "abc",
        "출금",
        "금이",
        "提现",
        "现失",
        "失败",
        "出金",
        "金で",
        "でき",
        "きな",
        "ない",
        "金",
    ]
    assert document(["deposit deposit", "deposit"], "old") == "old deposit"
