"""How often a way of choosing between two checkpoints keeps the better one, measured on validation
samples drawn from the two checkpoints' per-query outcomes, without planning again.

    python benchmarks/checkpoint_selection.py --earlier EVAL_500 --later EVAL_1000 --sizes 50 200

EVAL_500 and EVAL_1000 are `tinyagent eval --out` directories of the same split, planned by an
earlier and a later checkpoint of one run. The ways compared:
- `best_score`: the higher success, then tool-set accuracy; a full tie goes to the later checkpoint,
  as its lower loss broke it in training. This is how runs chose before 2026-12-07.
- `latest_unless_clearly_worse`: `tinyagent train`'s rule (tinyagent_ft/train/selection.py), at its
  level and at the other levels given with --levels.
Each is measured as trained and with the pair reversed (the earlier checkpoint taken as the later),
so that both a better later and a better earlier checkpoint are tried. Prints one JSON object;
`--json` also writes it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyagent_ft.train.selection import SIGNIFICANCE, CheckpointSelection, Evaluation, sign_test_p  # noqa: E402
from tinyagent_ft.train.trainer import plan_score  # noqa: E402

Outcomes = dict[str, tuple[bool, bool]]  # query id -> (success, tool set right)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--earlier", type=Path, required=True, help="`tinyagent eval --out` of the earlier checkpoint")
    parser.add_argument("--later", type=Path, required=True, help="`tinyagent eval --out` of the later checkpoint")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="validation sample sizes to draw")
    parser.add_argument("--draws", type=int, default=10000, help="samples drawn per size (default: 10000)")
    parser.add_argument("--levels", type=float, nargs="*", default=[0.05], help="other levels of the rule to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def read_outcomes(eval_dir: Path) -> Outcomes:
    results = json.loads((eval_dir / "report.json").read_text())["results"]
    return {r["id"]: (bool(r["success"]), bool(r["tool_set_match"])) for r in results}


def evaluation(step: int, outcomes: list[tuple[bool, bool]]) -> Evaluation:
    """As training scores a validation (`plan_score`), without the loss, which eval does not report."""
    successes = tuple(s for s, _ in outcomes)
    n = len(outcomes)
    return Evaluation(step, plan_score(sum(successes) / n, sum(t for _, t in outcomes) / n, None), successes)


def keeps_later_best_score(earlier: Evaluation, later: Evaluation) -> bool:
    return later.score >= earlier.score


def keeps_later_by_rule(level: float):
    def keeps_later(earlier: Evaluation, later: Evaluation) -> bool:
        selection = CheckpointSelection(significance=level)
        selection.keeps(earlier)
        return selection.keeps(later)
    return keeps_later


def share_keeping_the_better(earlier: Outcomes, later: Outcomes, keeps_later, size: int, draws: int,
                             rng: random.Random) -> float:
    """Share of ``draws`` samples of ``size`` queries on which ``keeps_later`` keeps the checkpoint
    with the higher success on all the queries."""
    ids = sorted(earlier)
    later_is_better = sum(s for s, _ in later.values()) > sum(s for s, _ in earlier.values())
    right = 0
    for _ in range(draws):
        sample = rng.sample(ids, size)
        kept_later = keeps_later(evaluation(0, [earlier[i] for i in sample]), evaluation(1, [later[i] for i in sample]))
        right += kept_later == later_is_better
    return right / draws


def paired_counts(earlier: Outcomes, later: Outcomes) -> dict:
    only_earlier = sum(earlier[i][0] and not later[i][0] for i in earlier)
    only_later = sum(later[i][0] and not earlier[i][0] for i in earlier)
    leader_p = sign_test_p(max(only_earlier, only_later), min(only_earlier, only_later))
    return {"queries": len(earlier), "earlier_success": sum(s for s, _ in earlier.values()) / len(earlier),
            "later_success": sum(s for s, _ in later.values()) / len(later), "right_only_earlier": only_earlier,
            "right_only_later": only_later, "one_sided_sign_test_p": float(f"{leader_p:.3g}")}


def measure(earlier: Outcomes, later: Outcomes, sizes: list[int], draws: int, levels: list[float], seed: int) -> dict:
    if earlier.keys() != later.keys():
        raise SystemExit("the two evaluations planned different queries")
    rules = {"best_score": keeps_later_best_score,
             **{f"latest_unless_clearly_worse_{level:g}": keeps_later_by_rule(level)
                for level in [SIGNIFICANCE, *levels]}}
    rng = random.Random(seed)
    orders = {"as_trained": (earlier, later), "reversed": (later, earlier)}
    kept_better = {order: {str(size): {name: share_keeping_the_better(*pair, rule, min(size, len(earlier)), draws, rng)
                                       for name, rule in rules.items()} for size in sizes}
                   for order, pair in orders.items()}
    return {"paired": paired_counts(earlier, later), "draws": draws, "seed": seed,
            "share_keeping_the_better_checkpoint": kept_better}


def main(argv=None) -> None:
    args = parse_args(argv)
    report = measure(read_outcomes(args.earlier), read_outcomes(args.later), args.sizes, args.draws, args.levels,
                     args.seed)
    report.update(earlier=str(args.earlier), later=str(args.later))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
