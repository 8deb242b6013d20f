"""Per-language calibration of the hybrid confidence on a tuning question set.

Raw cosine similarities differ by language and model, so each language gets its own two ends:
`dense_low`, the median best similarity of its out-of-scope questions, and `dense_high`, the
median similarity of its correct dense answers. The `answer` threshold is then the lowest that
keeps out-of-scope questions handed off (at least MIN_HANDOFF) while maximising correct answers
minus WRONG_COST times wrong ones; `clarify` sits CLARIFY_BAND below it. Run it on the tuning set
only (`helpline kb calibrate`), never on the set the numbers are reported on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

from helpline.bots import fusion
from helpline.bots.evaluate import Question
from helpline.bots.search import Hit, Searcher

MIN_HANDOFF = 0.9
WRONG_COST = 4.0
CLARIFY_BAND = 0.3
_GRID = [round(0.3 + 0.02 * i, 2) for i in range(35)]


def _dense_top(searcher: Searcher, q: Question) -> tuple[str, float] | None:
    index = searcher.dense.get(q.language)
    vector = searcher.queries.get(q.text) if searcher.queries is not None else None
    if index is None or vector is None:
        return None
    similarities = index.similarities(vector)
    key = max(similarities, key=lambda k: similarities[k])
    return key, similarities[key]


def _confident_top(hits: Sequence[Hit], threshold: float) -> Hit | None:
    return hits[0] if hits and hits[0].confidence >= threshold else None


def calibrate(searcher: Searcher, questions: Sequence[Question]) -> dict[str, fusion.Calibration]:
    """A calibration per language present in `questions` (needs a searcher with an embedder)."""
    if not searcher.hybrid:
        raise ValueError(f"calibration needs dense retrieval ({searcher.dense_error})")
    result = {}
    for language in sorted({q.language for q in questions}):
        mine = [q for q in questions if q.language == language]
        tops = [(q, _dense_top(searcher, q)) for q in mine]
        low = [t[1] for q, t in tops if t is not None and q.expected is None]
        high = [t[1] for q, t in tops if t is not None and q.expected == t[0]]
        if not low or not high:
            raise ValueError(f"{language}: needs out-of-scope questions and correct dense answers")
        cal = fusion.Calibration(round(statistics.median(low), 4), round(statistics.median(high), 4), 1.0, 1.0)
        index = searcher.index_for(language)
        scored = []
        for threshold in _GRID:
            trial = replace(cal, answer=threshold, clarify=threshold)
            index.config = replace(index.config, hybrid=trial)  # the searcher reads it per question
            # Judged as if every confident top article were answered, whether or not both
            # retrievers put it first: the agreement the bot also requires only turns some of
            # these answers into choices. Judged on its answers alone, a threshold lowered until
            # only agreeing tops pass looks free on the tuning set and is not on unseen questions.
            picks = [(q, _confident_top(searcher.choose(q.text, language).hits, threshold)) for q in mine]
            correct = sum(1 for q, a in picks if a is not None and a.key == q.expected)
            wrong = sum(1 for q, a in picks if a is not None and a.key != q.expected)
            out = [a for q, a in picks if q.expected is None]
            handoff = sum(a is None for a in out) / len(out)
            scored.append((handoff >= MIN_HANDOFF, correct - WRONG_COST * wrong, -threshold, threshold))
        best = max(scored)[3]
        result[language] = replace(cal, answer=best, clarify=round(max(0.0, best - CLARIFY_BAND), 2))
        index.config = replace(index.config, hybrid=result[language])
    return result


def as_toml(calibration: fusion.Calibration) -> str:
    c = calibration
    return (
        f"[hybrid]\ndense_low = {c.dense_low}\ndense_high = {c.dense_high}\n"
        f"answer = {c.answer}\nclarify = {c.clarify}\n"
    )
