"""Offline evaluation of help-center retrieval on a question set (JSON Lines).

Each question is {"id", "language", "text", "expected"} with `expected` an article key, or null
for a question the help center does not cover (the bot must hand it off). Questions go through
`Searcher.best`, the very call the bot makes, so the numbers describe the bot's behaviour.

Metrics (each also per language under `by_language`):
- accuracy_at_1: correct answers / answered answerable questions;
- answer_rate: answered answerable questions / answerable questions;
- wrong_rate: wrong answers / all questions (answering an out-of-scope question is wrong);
- out_of_scope_handoff_rate: out-of-scope questions not answered / out-of-scope questions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from helpline.bots.search import Searcher


@dataclass(frozen=True)
class Question:
    id: str
    language: str
    text: str
    expected: str | None


@dataclass(frozen=True)
class Outcome:
    question: Question
    answered: str | None  # the article key the bot answered with, None for a handoff
    confidence: float  # of the top hit, answered or not

    @property
    def correct(self) -> bool:
        return self.answered is not None and self.answered == self.question.expected


def load_questions(path: Path) -> list[Question]:
    questions = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(Question(str(raw["id"]), raw["language"], raw["text"], raw.get("expected")))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: bad question: {exc}") from exc
    return questions


def run(searcher: Searcher, questions: Iterable[Question]) -> list[Outcome]:
    outcomes = []
    for q in questions:
        hit, hits = searcher.best(q.text, q.language)
        outcomes.append(Outcome(q, hit.key if hit else None, hits[0].confidence if hits else 0.0))
    return outcomes


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _metrics(outcomes: Sequence[Outcome]) -> dict[str, float | int | None]:
    answerable = [o for o in outcomes if o.question.expected is not None]
    out_of_scope = [o for o in outcomes if o.question.expected is None]
    answered = [o for o in answerable if o.answered is not None]
    wrong = [o for o in outcomes if o.answered is not None and not o.correct]
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "out_of_scope": len(out_of_scope),
        "accuracy_at_1": _ratio(sum(o.correct for o in answered), len(answered)),
        "answer_rate": _ratio(len(answered), len(answerable)),
        "wrong_rate": _ratio(len(wrong), len(outcomes)),
        "out_of_scope_handoff_rate": _ratio(sum(o.answered is None for o in out_of_scope), len(out_of_scope)),
    }


def metrics(outcomes: Sequence[Outcome]) -> dict[str, object]:
    languages = sorted({o.question.language for o in outcomes})
    result: dict[str, object] = dict(_metrics(outcomes))
    result["by_language"] = {
        lang: _metrics([o for o in outcomes if o.question.language == lang]) for lang in languages
    }
    return result


def failures(outcomes: Sequence[Outcome]) -> list[dict[str, object]]:
    """Wrong answers and missed answerable questions, for tuning by a human."""
    return [
        {"id": o.question.id, "text": o.question.text, "expected": o.question.expected,
         "answered": o.answered, "confidence": o.confidence}
        for o in outcomes
        if not o.correct and not (o.question.expected is None and o.answered is None)
    ]
