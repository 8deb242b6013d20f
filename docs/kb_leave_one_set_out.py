"""How the learned confidence does on question sets it was not fitted on (docs/benchmarks.md,
"a confidence that holds on another knowledge base"): each tuning set in turn is left out, the
confidence is calibrated on the others as `helpline kb calibrate` does, and the left-out set is
answered with it, on the full knowledge base and on smaller ones (`kb eval --drop`'s draws).

    PYTHONPATH=$PWD .venv/bin/python docs/kb_leave_one_set_out.py [--drop 0.5] [--seeds 4]

--drop 0 --seeds 0 fits on the full knowledge base alone, as before the smaller ones were learned from.

With --help-centers, the help centers the shipped calibration learns from (`--also`, HELP_CENTERS)
are left out instead, one at a time: the confidence is calibrated on kb/'s nine sets and the other
two, as `helpline kb calibrate --also` does, and the left-out help center is answered with it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from helpline.bots import calibrate, evaluate, fusion
from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import default_embedder
from helpline.bots.kb import KnowledgeBase, load_kb
from helpline.bots.kb_cli import calibration_variants
from helpline.bots.search import Searcher

SETS = ("questions", "dev2", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "heldout", "untouched")
EVAL_SEEDS = 5  # the draws `kb eval --drop 0.5` makes (seeds 0-4)
HELP_CENTERS = ("other-help-center", "lumen-help-center", "nova-help-center")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=Path, default=Path("kb"))
    parser.add_argument("--drop", type=float, default=0.5)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--help-centers", action="store_true", help="leave out the --also help centers instead")
    args = parser.parse_args()
    kb = load_kb(args.kb)
    embedder = default_embedder()
    base = Searcher(kb, embedder=embedder, cache_dir=default_cache_dir())
    if args.help_centers:
        leave_one_help_center_out(base, kb, args.kb, args.drop, args.seeds)
        return

    questions = {name: evaluate.load_questions(args.kb / "eval" / f"{name}.jsonl") for name in SETS}
    variants_for_eval = [evaluate.drop_articles(kb, [], 0.5, seed)[0] for seed in range(EVAL_SEEDS)]
    eval_searchers = [base.over(v) for v in variants_for_eval]
    full: list[evaluate.Outcome] = []
    smaller: list[evaluate.Outcome] = []
    for held in SETS:
        tuning = [q for name in SETS if name != held for q in questions[name]]
        variants = calibration_variants(base, kb, tuning, [], args.drop, args.seeds)
        shipped = {lang: base.index_for(lang).config for lang in base.indexes}
        cals = calibrate.calibrate(base, tuning, variants)
        for lang, config in shipped.items():
            base.index_for(lang).config = config
        mine = evaluate.run(_with(base, cals), questions[held])
        full += mine
        for seed, s in enumerate(eval_searchers):
            _, remapped, _ = evaluate.drop_articles(kb, questions[held], 0.5, seed)
            smaller += evaluate.run(_with(s, cals), remapped)
        print(held, json.dumps(_short(evaluate.metrics(mine))), flush=True)
    print("all left-out sets, full KB:", json.dumps(_short(evaluate.metrics(full), languages=True)))
    print(
        "all left-out sets, half the articles (5 draws):", json.dumps(_short(evaluate.metrics(smaller), languages=True))
    )


def leave_one_help_center_out(base: Searcher, kb: KnowledgeBase, folder: Path, drop: float, seeds: int) -> None:
    tuning = [q for name in SETS for q in evaluate.load_questions(folder / "eval" / f"{name}.jsonl")]
    examples = folder.resolve().parent / "examples"
    centers = {
        name: (load_kb(examples / name), evaluate.load_questions(examples / name / "questions.jsonl"))
        for name in HELP_CENTERS
    }
    for held in HELP_CENTERS:
        others = [centers[name] for name in HELP_CENTERS if name != held]
        cals = calibrate.calibrate(base, tuning, calibration_variants(base, kb, tuning, others, drop, seeds))
        outcomes = evaluate.run(_with(base.over(centers[held][0]), cals), centers[held][1])
        print(held, json.dumps(_short(evaluate.metrics(outcomes), languages=True)), flush=True)


def _with(searcher: Searcher, cals: dict[str, fusion.Calibration]) -> Searcher:
    for lang, cal in cals.items():
        index = searcher.index_for(lang)
        index.config = replace(index.config, hybrid=cal)
    return searcher


def _short(m: dict[str, object], languages: bool = False) -> dict[str, object]:
    keys = (
        "correct_rate",
        "wrong_rate",
        "out_of_scope_handoff_rate",
        "out_of_scope_answered_rate",
        "answer_rate",
        "accuracy_at_1",
        "clarify_rate",
    )
    out: dict[str, object] = {k: m[k] for k in keys}
    by = m["by_language"]
    if languages and isinstance(by, dict):
        out["by_language"] = {lang: {k: v[k] for k in keys} for lang, v in by.items()}
    return out


if __name__ == "__main__":
    main()
