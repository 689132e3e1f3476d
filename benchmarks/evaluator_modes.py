"""Does each argument mode behave as specified? Score a generated split against perturbed copies of itself.

Every gold plan of the split gets each perturbation that applies to it; each pair is scored in all
three modes. Prints JSON: per perturbation, how many pairs and the success rate per mode.

    python benchmarks/evaluator_modes.py --gold DATA/testing_data.json [--seed 0]

What the contract implies: cosmetic string changes (case, spacing) and reordered list arguments
pass `normalized` and `ignore` but fail `strict`; a changed value or type (45 -> "45") passes only
`ignore`; swapping which lookups feed which list argument fails `normalized` and `strict`; invalid
plans fail everywhere.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from evaluator_speed import _renumbered, gold_from_file
from planner_eval import score_plan
from planner_eval.parse import parse_plan
from planner_eval.plan import Action, format_plan, references

MODES = ("normalized", "strict", "ignore")
Perturb = Callable[[random.Random, list[Action]], "list[Action] | None"]


def _copy(actions: list[Action]) -> list[Action]:
    return [Action(a.id, a.tool, [list(v) if isinstance(v, list) else v for v in a.args]) for a in actions]


def _plain_strings(actions: list[Action]) -> list[tuple[Action, int]]:
    return [(a, i) for a in actions for i, v in enumerate(a.args) if isinstance(v, str) and v.strip() and not references([v])]


def _edit_one_string(rng: random.Random, actions: list[Action], edit) -> list[Action] | None:
    """A copy with one randomly chosen plain string argument replaced by edit(value)."""
    out = _copy(actions)
    targets = _plain_strings(out)
    if not targets:
        return None
    action, i = rng.choice(targets)
    action.args[i] = edit(action.args[i])
    return out


def recased(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    return _edit_one_string(rng, actions, lambda v: "  " + v.swapcase().replace(" ", "   ") + " ")


def reordered_list(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    out = _copy(actions)
    for action in out:
        for i, value in enumerate(action.args):
            if isinstance(value, list) and len(set(map(str, value))) >= 2:
                action.args[i] = value[::-1]
                return out
    return None


def wrong_value(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    return _edit_one_string(rng, actions, lambda v: v + " and something else")


def changed_type(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    out = _copy(actions)
    targets = [(a, i) for a in out for i, v in enumerate(a.args) if isinstance(v, (bool, int, float))]
    if not targets:
        return None
    action, i = rng.choice(targets)
    action.args[i] = str(action.args[i])
    return out


def swapped_lists(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    out = _copy(actions)
    for action in out:
        lists = [i for i, v in enumerate(action.args) if isinstance(v, list) and references(v)]
        if len(lists) >= 2 and action.args[lists[0]] != action.args[lists[1]]:
            i, j = lists[:2]
            action.args[i], action.args[j] = action.args[j], action.args[i]
            return out
    return None


def unknown_tool(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    out = _copy(actions)
    out[-1].tool = "send_telegram"
    return out


def bad_reference(rng: random.Random, actions: list[Action]) -> list[Action] | None:
    out = _copy(actions)
    out[0].args.append(f"${len(out) + 3}")
    return out


PERTURBATIONS: dict[str, Perturb] = {
    "identical": lambda rng, actions: _copy(actions),
    "renumbered_reordered_recased": _renumbered,
    "recased_string": recased,
    "reordered_list": reordered_list,
    "wrong_value": wrong_value,
    "changed_type": changed_type,
    "swapped_reference_lists": swapped_lists,
    "unknown_tool": unknown_tool,
    "bad_reference": bad_reference,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, required=True, help="TinyAgent-format JSON file (e.g. testing_data.json)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    passed: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MODES, 0))
    counts: dict[str, int] = defaultdict(int)
    for gold_text in gold_from_file(args.gold):
        actions = parse_plan(gold_text).actions
        for name, perturb in PERTURBATIONS.items():
            changed = perturb(rng, actions) if actions else None
            if changed is None:
                continue
            prediction = format_plan(changed)
            counts[name] += 1
            for mode in MODES:
                passed[name][mode] += score_plan(gold_text, prediction, mode).success
    table = {
        name: {"pairs": counts[name], **{mode: round(passed[name][mode] / counts[name], 4) for mode in MODES}}
        for name in PERTURBATIONS
        if counts[name]
    }
    print(json.dumps({"gold": str(args.gold), "success_rate": table}, indent=2))


if __name__ == "__main__":
    main()
