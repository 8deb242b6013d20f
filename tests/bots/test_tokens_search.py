from __future__ import annotations

import pytest

from helpline.bots.search import Searcher
from helpline.bots.tokens import LanguageConfig, Speller, Tokenizer, edit_distance, load_language_config


def test_cjk_unigrams_and_bigrams() -> None:
    tok = Tokenizer(LanguageConfig("zh"))
    tokens = tok.document("提现到账")
    assert {"提", "现", "提现", "现到", "到账"} <= set(tokens)


def test_japanese_drops_hiragana_only_pairs_but_keeps_katakana() -> None:
    tok = Tokenizer(LanguageConfig("ja"))
    tokens = tok.document("出金されない")
    assert "出金" in tokens and "され" not in tokens and "ない" not in tokens
    assert "ォレ" in tok.document("ウォレット")


def test_korean_strips_particles_then_bigrams() -> None:
    tok = Tokenizer(load_language_config("ko"))
    assert tok.document("입금이") == tok.document("입금을") == ["입금"]
    assert "입금" in tok.document("입금했는데")
    assert {"출금", "한도"} <= set(tok.document("출금 한도"))
    assert tok.document("찼는데") == ["찼"]  # an ending leaves a one-syllable stem, not "찼는"


def test_korean_limit_question_finds_the_limits_article(searcher: Searcher) -> None:
    assert searcher.search("출금 한도 다 찼는데 올릴 수 있나요", "ko")[0].key == "withdrawal-limits"


def test_nfkc_lowercase_and_synonyms() -> None:
    tok = Tokenizer(load_language_config("en"))
    assert tok.document("ＵＳＤＴ")[0] == "usdt"  # full-width folded
    assert "withdrawal" in tok.document("how do I cash out")


def test_unknown_word_is_spelling_corrected() -> None:
    tok = Tokenizer(LanguageConfig("en"))
    vocab = set(tok.document("withdrawal account"))
    speller = Speller(vocab)
    assert tok.query("withdrawl acount", vocab, speller) == ["withdrawal", "account"]
    assert tok.query("pizza", vocab, speller) == ["pizza"]  # no close word: stays unknown


def test_edit_distance_counts_a_swap_once() -> None:
    assert edit_distance("recieve", "receive", 2) == 1
    assert edit_distance("withdraw", "deposit", 2) == 3  # cut off above the limit


@pytest.mark.parametrize(
    ("language", "text", "key"),
    [
        ("en", "forgot my password, how do I reset it", "password-reset"),
        ("en", "withdrawl stuck pending for hours", "withdrawal-pending"),  # typo
        ("ko", "구글 OTP 설정 방법", "2fa-setup"),
        ("ko", "리플 입금할 때 태그를 빠뜨렸어요", "deposit-missing-memo"),
        ("zh", "充值一直没到账", "deposit-not-credited"),
        ("zh", "怎么创建API密钥", "api-key-create"),
        ("ja", "パスワードを忘れました", "password-reset"),
        ("ja", "出金手数料はいくら", "withdrawal-fees"),
    ],
)
def test_retrieval_answers_in_each_language(searcher: Searcher, language: str, text: str, key: str) -> None:
    hit, hits = searcher.best(text, language)
    assert hit is not None, hits[:2]
    assert hit.key == key and hit.language == language
    assert 0.0 <= hit.confidence <= 1.0


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "what's the weather like in paris"),
        ("ko", "오늘 점심 뭐 먹지"),
        ("zh", "给我讲个笑话"),
        ("ja", "好きな映画は何ですか"),
    ],
)
def test_out_of_scope_is_below_threshold(searcher: Searcher, language: str, text: str) -> None:
    hit, _ = searcher.best(text, language)
    assert hit is None


def test_exclude_skips_tried_articles(searcher: Searcher) -> None:
    first = searcher.search("forgot my password", "en")[0]
    again = searcher.search("forgot my password", "en", exclude=[first.key])
    assert again and again[0].key != first.key


def test_unknown_language_uses_fallback_index(searcher: Searcher) -> None:
    assert searcher.index_for("fr") is searcher.index_for("en")
