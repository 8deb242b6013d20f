"""Offline evaluation of help-center retrieval on a question set (JSON Lines).

Each question is {"id", "language", "text", "expected"} with `expected` an article key, or null
for a question the help center does not cover (the bot must hand it off). Questions go through
`Searcher.choose`, the very call the bot makes, so the numbers describe the bot's behaviour.

Metrics (each also per language under `by_language`):
- correct_rate: correct answers / answerable questions (what the customer gets without waiting);
- accuracy_at_1: correct answers / answered answerable questions;
- answer_rate: answered answerable questions / answerable questions;
- wrong_rate: wrong answers / all questions (answering an out-of-scope question is wrong);
- out_of_scope_handoff_rate: out-of-scope questions handed off (neither answered nor offered
  choices) / out-of-scope questions; out_of_scope_answered_rate: the ones answered (with some
  article) / out-of-scope questions. With answer_rate and accuracy_at_1 (the wrong answers to
  answerable questions), it gives the wrong rate of a set with another share of out-of-scope
  questions than this one;
- clarify_rate: questions answered with choices / all questions; clarify_correct_rate: of those,
  the ones whose right article is among the choices;
- accuracy_at_3: answerable questions whose article is in the top three / answerable questions;
- p50_ms, p99_ms: time per question (start-up excluded); cpu_p50_ms, cpu_p99_ms: the processor
  time the question took, which a busy machine does not inflate as it does the wall-clock time.

A knowledge base of another size and content (`drop_articles`): a fraction of the articles, drawn
by a seed, is taken out in every language and the questions they answered become out of scope;
over several seeds this shows how the confidence holds for a KB it was not tuned on, where a
question about a missing article finds its neighbours (`averaged` gives the mean of the runs).

Everything but the times is repeatable: the embeddings, the fusion and the thresholds are
deterministic, so two runs on the same inputs give the same answers to the last digit. `setup`
names those inputs (the articles, each language's thresholds, the embedder, the approved examples,
the questions), so that two results that differ can be traced to what differed between the runs.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpline.bots.kb import KnowledgeBase
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
    answered: str | None  # the article key the bot answered with, None for a handoff or choices
    confidence: float  # of the top hit, answered or not
    choices: tuple[str, ...] = ()  # the articles offered instead of an answer
    top3: tuple[str, ...] = ()
    ms: float = 0.0
    cpu_ms: float = 0.0

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


def drop_articles(
    kb: KnowledgeBase, questions: Sequence[Question], fraction: float, seed: int
) -> tuple[KnowledgeBase, list[Question], tuple[str, ...]]:
    """The knowledge base without round(fraction * keys) of its article keys (in every language),
    drawn by `seed` (the same seed, the same keys), and the questions with the removed articles'
    ones made out of scope; also the removed keys, sorted. At least one article is kept."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the fraction of articles to drop must be in [0, 1), not {fraction}")
    keys = sorted(kb.article_keys())
    count = min(len(keys) - 1, round(fraction * len(keys)))
    dropped = frozenset(random.Random(seed).sample(keys, count))
    kept = KnowledgeBase(a for a in kb.articles if a.key not in dropped)
    remapped = [
        q if q.expected is None or q.expected not in dropped else Question(q.id, q.language, q.text, None)
        for q in questions
    ]
    return kept, remapped, tuple(sorted(dropped))


def run(searcher: Searcher, questions: Iterable[Question]) -> list[Outcome]:
    outcomes = []
    for q in questions:
        started, cpu = time.perf_counter(), time.thread_time()
        choice = searcher.choose(q.text, q.language)
        ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        hits = choice.hits
        outcomes.append(
            Outcome(
                q,
                choice.answer.key if choice.answer else None,
                hits[0].confidence if hits else 0.0,
                tuple(h.key for h in choice.choices),
                tuple(h.key for h in hits[:3]),
                ms,
                cpu_ms,
            )
        )
    return outcomes


def _digest(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def setup(searcher: Searcher, questions: Sequence[Question]) -> dict[str, object]:
    """The inputs a run's answers depend on besides the code: digests of the articles and the
    questions, each language's thresholds, the embedder (None: BM25 alone), the examples used."""
    articles = sorted(a.model_dump_json() for index in searcher.indexes.values() for a in index.articles)
    thresholds: dict[str, object] = {}
    for language, index in sorted(searcher.indexes.items()):
        hybrid = index.config.hybrid
        thresholds[language] = {"bm25": index.config.threshold, "hybrid": vars(hybrid) if hybrid else None}
    return {
        "kb": _digest(articles),
        "questions": _digest(json.dumps(vars(q), ensure_ascii=False) for q in questions),
        "embedder": searcher.queries.embedder.name if searcher.queries is not None else None,
        "examples": searcher.phrasings.count,
        "thresholds": thresholds,
    }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _metrics(outcomes: Sequence[Outcome]) -> dict[str, float | int | None]:
    answerable = [o for o in outcomes if o.question.expected is not None]
    out_of_scope = [o for o in outcomes if o.question.expected is None]
    answered = [o for o in answerable if o.answered is not None]
    wrong = [o for o in outcomes if o.answered is not None and not o.correct]
    clarified = [o for o in outcomes if o.choices]
    times = [o.ms for o in outcomes]
    cpu = [o.cpu_ms for o in outcomes]
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "out_of_scope": len(out_of_scope),
        "accuracy_at_1": _ratio(sum(o.correct for o in answered), len(answered)),
        "answer_rate": _ratio(len(answered), len(answerable)),
        "wrong_rate": _ratio(len(wrong), len(outcomes)),
        "out_of_scope_handoff_rate": _ratio(
            sum(o.answered is None and not o.choices for o in out_of_scope), len(out_of_scope)
        ),
        "out_of_scope_answered_rate": _ratio(sum(o.answered is not None for o in out_of_scope), len(out_of_scope)),
        "correct_rate": _ratio(sum(o.correct for o in answerable), len(answerable)),
        "clarify_rate": _ratio(len(clarified), len(outcomes)),
        "clarify_correct_rate": _ratio(sum(o.question.expected in o.choices for o in clarified), len(clarified)),
        "accuracy_at_3": _ratio(sum(o.question.expected in o.top3 for o in answerable), len(answerable)),
        "p50_ms": round(float(np.percentile(times, 50)), 2) if times else None,
        "p99_ms": round(float(np.percentile(times, 99)), 2) if times else None,
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2) if cpu else None,
        "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 2) if cpu else None,
    }


def metrics(outcomes: Sequence[Outcome]) -> dict[str, object]:
    languages = sorted({o.question.language for o in outcomes})
    result: dict[str, object] = dict(_metrics(outcomes))
    result["by_language"] = {lang: _metrics([o for o in outcomes if o.question.language == lang]) for lang in languages}
    return result


def averaged(results: Sequence[dict[str, object]]) -> dict[str, object]:
    """The mean of several `metrics` results, key by key (overall and per language); a rate that
    is None in a run (no question of its kind) is left out of that key's mean; counts are summed."""
    counts = ("questions", "answerable", "out_of_scope")

    def mean(dicts: Sequence[dict[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {}
        for key in dicts[0]:
            values = [d.get(key) for d in dicts]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            if key in counts:
                out[key] = int(sum(numbers))
            else:
                out[key] = round(sum(numbers) / len(numbers), 4) if numbers else None
        return out

    scalars = [{k: v for k, v in r.items() if k != "by_language"} for r in results]
    result = mean(scalars)
    languages = sorted({lang for r in results for lang in _languages(r)})
    result["by_language"] = {
        lang: mean([_languages(r)[lang] for r in results if lang in _languages(r)]) for lang in languages
    }
    return result


def _languages(result: dict[str, object]) -> dict[str, dict[str, object]]:
    by = result.get("by_language")
    return by if isinstance(by, dict) else {}


def miss_kind(o: Outcome) -> str | None:
    """What went wrong with one question, None when nothing did:
    - "wrong": answered with another article; "out_of_scope_answered": answered a question the
      help center does not cover; "out_of_scope_choices": offered choices for one;
    - for an answerable question handed off or offered choices: "choices" (the right article among
      them), "choices_without_it", "right_first_unsure" (the fused ranking's first article is the
      right one, its confidence below the answer threshold), "right_second_or_third",
      "not_in_top3" (retrieval did not find it)."""
    expected = o.question.expected
    if o.correct or (expected is None and o.answered is None and not o.choices):
        return None
    if expected is None:
        return "out_of_scope_answered" if o.answered is not None else "out_of_scope_choices"
    if o.answered is not None:
        return "wrong"
    if o.choices:
        return "choices" if expected in o.choices else "choices_without_it"
    if o.top3[:1] == (expected,):
        return "right_first_unsure"
    return "right_second_or_third" if expected in o.top3 else "not_in_top3"


def misses(outcomes: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    """Per language, how many questions went wrong in each way (`miss_kind`)."""
    counts: dict[str, Counter[str]] = {}
    for o in outcomes:
        kind = miss_kind(o)
        if kind is not None:
            counts.setdefault(o.question.language, Counter())[kind] += 1
    return {language: dict(sorted(c.items())) for language, c in sorted(counts.items())}


def failures(outcomes: Sequence[Outcome]) -> list[dict[str, object]]:
    """Wrong answers and missed answerable questions, for tuning by a human: what was expected,
    what retrieval ranked first to third, the confidence of the first, and what the bot did."""
    return [
        {
            "id": o.question.id,
            "language": o.question.language,
            "text": o.question.text,
            "expected": o.question.expected,
            "kind": kind,
            "answered": o.answered,
            "choices": list(o.choices),
            "retrieved": list(o.top3),
            "confidence": o.confidence,
        }
        for o in outcomes
        if (kind := miss_kind(o)) is not None
    ]
