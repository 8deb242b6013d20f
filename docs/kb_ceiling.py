"""How many right answers the retrieval leaves room for (docs/benchmarks.md, "what the retrieval
allows"): for each question set, per language,

- `top1`: answerable questions whose right article retrieval ranks first: what a perfect
  confidence would answer right, with no wrong answer;
- `best_at_5pct`: the most right answers one threshold on today's confidence gives while wrong
  answers (answerable questions answered with another article, out-of-scope questions answered)
  stay at or under 5 % of the questions, the threshold chosen on the set's own answers, which no
  deployment can do (the shipped rule also asks both retrievers to agree, so on a set where that
  matters it can do better than this);
- `shipped`: the right answers with the shipped thresholds;
- `lowered`: every language's `answer` and `clarify` thresholds lowered by 0.02 ... 0.12, as
  [right rate, wrong rate, out-of-scope handoff rate, the lowest language's right rate].

    PYTHONPATH=$PWD .venv/bin/python docs/kb_ceiling.py KB_DIR QUESTIONS.jsonl [KB_DIR QUESTIONS.jsonl ...]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from helpline.bots import evaluate
from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import default_embedder
from helpline.bots.kb import load_kb
from helpline.bots.search import Searcher

WRONG_BUDGET = 0.05
LOWERED_BY = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12)


def best_at_budget(outcomes: Sequence[evaluate.Outcome]) -> float:
    """The highest right rate (over answerable questions) of `answer when the first hit's
    confidence >= t`, over every t, with wrong answers <= WRONG_BUDGET of all questions."""
    answerable = sum(1 for o in outcomes if o.question.expected is not None)
    budget = WRONG_BUDGET * len(outcomes)
    best = right = wrong = 0
    # Lowering the threshold past each confidence in turn answers that question too.
    for o in sorted(outcomes, key=lambda o: -o.confidence):
        first = o.top3[0] if o.top3 else None
        if first is not None and first == o.question.expected:
            right += 1
        elif first is not None:
            wrong += 1
        if wrong <= budget:
            best = max(best, right)
    return round(best / answerable, 4) if answerable else 0.0


def summary(outcomes: Sequence[evaluate.Outcome]) -> dict[str, float]:
    answerable = [o for o in outcomes if o.question.expected is not None]
    top1 = sum(1 for o in answerable if o.top3 and o.top3[0] == o.question.expected)
    return {
        "top1": round(top1 / len(answerable), 4),
        "best_at_5pct": best_at_budget(outcomes),
        "shipped": round(sum(o.correct for o in answerable) / len(answerable), 4),
    }


def lowered(searcher: Searcher, questions: Sequence[evaluate.Question]) -> dict[float, list[object]]:
    shipped = {lang: searcher.index_for(lang).config for lang in searcher.indexes}
    rows: dict[float, list[object]] = {}
    for by in LOWERED_BY:
        for lang, config in shipped.items():
            if config.hybrid is None:  # a language without calibration answers on BM25 alone
                continue
            cal = replace(config.hybrid, answer=config.hybrid.answer - by, clarify=config.hybrid.clarify - by)
            searcher.index_for(lang).config = replace(config, hybrid=cal)
        m = evaluate.metrics(evaluate.run(searcher, questions))
        languages = m["by_language"]
        assert isinstance(languages, dict)
        lowest = min(v["correct_rate"] for v in languages.values())
        rows[by] = [m["correct_rate"], m["wrong_rate"], m["out_of_scope_handoff_rate"], lowest]
    for lang, config in shipped.items():
        searcher.index_for(lang).config = config
    return rows


def main(args: list[str]) -> None:
    embedder = default_embedder()
    for kb_dir, path in zip(args[::2], args[1::2], strict=True):
        searcher = Searcher(load_kb(Path(kb_dir)), embedder=embedder, cache_dir=default_cache_dir())
        questions = evaluate.load_questions(Path(path))
        outcomes = evaluate.run(searcher, questions)
        languages = sorted({o.question.language for o in outcomes})
        result = {
            "all": summary(outcomes),
            **{lang: summary([o for o in outcomes if o.question.language == lang]) for lang in languages},
            "lowered": lowered(searcher, questions),
        }
        print(path, json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
