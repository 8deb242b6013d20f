from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpline.bots import fusion
from helpline.bots.calibrate import MAX_WRONG, MIN_HANDOFF, calibrate, fit, threshold
from helpline.bots.catalog import Catalog, default_catalog
from helpline.bots.evaluate import Outcome, Question, failures, load_questions, metrics, misses, run, setup
from helpline.bots.search import Searcher
from tests.bots.conftest import KB_DIR


def test_every_language_has_every_message() -> None:
    cat = default_catalog()
    en_ids = set(cat._messages["en"])
    for lang in ("ko", "zh", "ja"):
        assert set(cat._messages[lang]) == en_ids, lang


def test_fallback_to_english_and_formatting(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('hello = "Hello {name}"\nbye = "Bye"\n', encoding="utf-8")
    (tmp_path / "ko.toml").write_text('hello = "안녕하세요 {name}"\n', encoding="utf-8")
    cat = Catalog.load(tmp_path)
    assert cat.text("ko", "hello", name="Kim") == "안녕하세요 Kim"
    assert cat.text("ko", "bye") == "Bye"
    assert cat.text("fr", "bye") == "Bye"
    with pytest.raises(KeyError):
        cat.text("en", "missing")


def o(lang: str, expected: str | None, answered: str | None) -> Outcome:
    return Outcome(Question(f"{lang}-{expected}-{answered}", lang, "q", expected), answered, 0.5)


def test_metrics_on_constructed_set() -> None:
    outcomes = [
        o("en", "a", "a"),  # correct
        o("en", "b", "a"),  # wrong
        o("en", "c", None),  # handed off
        o("en", None, None),  # out of scope, handed off
        o("ko", None, "a"),  # out of scope, answered: wrong
        o("ko", "a", "a"),  # correct
    ]
    m = metrics(outcomes)
    assert m["accuracy_at_1"] == round(2 / 3, 4)
    assert m["answer_rate"] == 0.75
    assert m["wrong_rate"] == round(2 / 6, 4)
    assert m["out_of_scope_handoff_rate"] == 0.5
    by = m["by_language"]
    assert isinstance(by, dict)
    assert by["en"]["accuracy_at_1"] == 0.5 and by["en"]["wrong_rate"] == 0.25
    assert by["ko"]["out_of_scope_handoff_rate"] == 0.0 and by["ko"]["accuracy_at_1"] == 1.0


def test_misses_say_what_went_wrong_per_language() -> None:
    def out(
        lang: str, expected: str | None, answered: str | None, choices: tuple[str, ...], top3: tuple[str, ...]
    ) -> Outcome:
        return Outcome(
            Question(f"{lang}{len(top3)}{expected}{answered}", lang, "q", expected), answered, 0.4, choices, top3
        )

    outcomes = [
        out("en", "a", "a", (), ("a", "b", "c")),  # correct: no miss
        out("en", None, None, (), ("a", "b", "c")),  # out of scope, handed off: no miss
        out("en", "a", "b", (), ("b", "a", "c")),
        out("en", None, "a", (), ("a",)),
        out("en", None, None, ("a", "b"), ("a", "b")),
        out("ko", "a", None, ("a", "b"), ("a", "b", "c")),
        out("ko", "c", None, ("a", "b"), ("a", "b", "c")),
        out("ko", "a", None, (), ("a", "b", "c")),
        out("ko", "b", None, (), ("a", "b", "c")),
        out("ko", "d", None, (), ("a", "b", "c")),
        out("ko", "d", None, (), ()),
    ]
    assert misses(outcomes) == {
        "en": {"out_of_scope_answered": 1, "out_of_scope_choices": 1, "wrong": 1},
        "ko": {
            "choices": 1,
            "choices_without_it": 1,
            "not_in_top3": 2,
            "right_first_unsure": 1,
            "right_second_or_third": 1,
        },
    }
    listed = failures(outcomes)
    assert len(listed) == 9
    assert listed[0]["kind"] == "wrong" and listed[0]["retrieved"] == ["b", "a", "c"] and listed[0]["language"] == "en"


def test_eval_reports_processor_time_next_to_wall_clock(searcher: Searcher) -> None:
    questions = [
        Question(f"q{i}", "en", text, None)
        for i, text in enumerate(["withdrawal stuck for 3 hours", "lost my phone and 2fa", "when moon"])
    ]
    result = metrics(run(searcher, questions))
    cpu50, cpu99, wall99 = result["cpu_p50_ms"], result["cpu_p99_ms"], result["p99_ms"]
    assert isinstance(cpu50, float) and isinstance(cpu99, float) and isinstance(wall99, float)
    assert 0 < cpu50 <= cpu99 <= wall99 + 1  # processor time fits in the wall-clock time


def test_eval_names_the_inputs_its_answers_depend_on(searcher: Searcher) -> None:
    questions = [
        Question("q1", "en", "withdrawal stuck for 3 hours", "withdrawal-pending"),
        Question("q2", "ko", "비밀번호를 잊어버렸어요", "password-reset"),
        Question("q3", "en", "when moon", None),
    ]
    before = setup(searcher, questions)
    assert searcher.queries is not None and before["embedder"] == searcher.queries.embedder.name
    assert before["examples"] == 0
    index = searcher.index_for("ko")
    shipped = index.config
    assert shipped.hybrid is not None
    index.config = replace(shipped, hybrid=replace(shipped.hybrid, answer=shipped.hybrid.answer + 0.1))
    try:
        recalibrated = setup(searcher, questions)
    finally:
        index.config = shipped
    thresholds, changed = before["thresholds"], recalibrated["thresholds"]
    assert isinstance(thresholds, dict) and isinstance(changed, dict)
    assert changed["ko"] != thresholds["ko"] and changed["en"] == thresholds["en"]
    assert recalibrated["kb"] == before["kb"] and recalibrated["questions"] == before["questions"]
    assert setup(searcher, questions[:2])["questions"] != before["questions"]


def test_calibration_does_not_lean_on_the_retrievers_agreement(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot answers only when both retrievers put the article first. Calibrating on its answers
    alone, a lower threshold would look free on the tuning questions (only agreeing tops pass) and
    let through wrong answers on unseen ones (Chinese came out at 0.30 instead of 0.62): the
    threshold must be what it is when any confident top article counts."""
    questions = [q for q in load_questions(KB_DIR / "eval" / "questions.jsonl") if q.language == "zh"]
    index = searcher.index_for("zh")
    shipped = index.config
    try:
        with_agreement = calibrate(searcher, questions)["zh"]
        monkeypatch.setattr(fusion, "sure", lambda fused, cal: bool(fused) and fused[0].confidence >= cal.answer)
        without = calibrate(searcher, questions)["zh"]
    finally:
        index.config = shipped
    assert with_agreement == without


def test_fit_learns_which_signal_tells_right_from_wrong() -> None:
    rng = np.random.default_rng(7)
    informative, noise = rng.uniform(0, 1, 400), rng.uniform(0, 1, 400)
    right = (informative + rng.normal(0, 0.1, 400) > 0.5).astype(float)
    weights = fit(np.column_stack([np.ones(400), informative, noise]), right)
    assert weights[1] > 5 and abs(weights[2]) < 1 and weights[0] < 0


def test_threshold_answers_the_most_right_within_the_wrong_and_handoff_bounds() -> None:
    # 40 questions: right tops at 0.9 and 0.6, wrong ones at 0.8 and 0.5, out of scope at 0.4 and 0.75
    confidence = [0.9] * 20 + [0.6] * 8 + [0.8] * 1 + [0.5] * 5 + [0.4] * 4 + [0.75] * 2
    right = [True] * 28 + [False] * 12
    in_scope = [True] * 34 + [False] * 6
    t = threshold(confidence, right, in_scope)
    # At 0.75 or below the two out-of-scope tops at 0.75 are answered (handoff 4/6 < 0.9); just
    # above, one wrong answer (0.8, within 3 % of 40) and the 20 right at 0.9: higher gains none
    assert t == 0.76
    assert sum(c >= t and not r for c, r in zip(confidence, right, strict=True)) <= MAX_WRONG * len(confidence)
    assert sum(c < t for c, s in zip(confidence, in_scope, strict=True) if not s) / 6 >= MIN_HANDOFF


def test_calibration_learns_a_confidence_that_keeps_the_tuning_wrong_answers_low(searcher: Searcher) -> None:
    questions = [q for q in load_questions(KB_DIR / "eval" / "questions.jsonl") if q.language == "ja"]
    index = searcher.index_for("ja")
    shipped = index.config
    try:
        learned = calibrate(searcher, questions)["ja"]
        assert len(learned.weights) == len(fusion.SIGNALS)
        assert dict(zip(fusion.SIGNALS, learned.weights, strict=True))["level"] > 0
        outcomes = run(searcher, questions)
    finally:
        index.config = shipped
    m = metrics(outcomes)
    assert isinstance(m["wrong_rate"], float) and m["wrong_rate"] <= MAX_WRONG
    assert isinstance(m["out_of_scope_handoff_rate"], float) and m["out_of_scope_handoff_rate"] >= MIN_HANDOFF
