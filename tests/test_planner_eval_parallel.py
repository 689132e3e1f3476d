"""Scoring in worker processes gives the same report as scoring in one; the shortcuts keep verdicts."""

from __future__ import annotations

import os
import random

import pytest

from planner_eval.cli import format_report
from planner_eval.parallel import MIN_PARALLEL_ITEMS, chunked_map
from planner_eval.plan import Action, format_plan
from planner_eval.report import score_plans
from planner_eval.score import score_plan

NAMES = ["Sid", "Nick", "Amir", "Kurt", "Nora"]


def _gold(rng: random.Random) -> list[Action]:
    people = rng.sample(NAMES, rng.randint(1, 3))
    actions = [Action(i, "get_email_address", [name]) for i, name in enumerate(people, start=1)]
    refs = [f"${a.id}" for a in actions]
    actions.append(Action(len(actions) + 1, "compose_new_email", [refs, [], rng.choice(["Budget", "Lunch"]), "hi", []]))
    return actions


def _prediction(rng: random.Random, gold: list[Action]) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return format_plan(gold)
    if kind == 1:  # renumbered: lookups reversed
        *lookups, email = gold
        order = {a.id: i for i, a in enumerate(reversed(lookups), start=1)}
        moved = [Action(order[a.id], a.tool, a.args) for a in reversed(lookups)]
        return format_plan(moved + [Action(len(gold), email.tool, [[f"${order[int(r[1:])]}" for r in email.args[0]], *email.args[1:]])])
    if kind == 2:
        return format_plan(gold[:-1] + [Action(gold[-1].id, gold[-1].tool, [*gold[-1].args[:2], "Other", "hi", []])])
    if kind == 3:
        return "I cannot help with that."
    return format_plan(gold)[: rng.randint(1, 40)]


@pytest.fixture(scope="module")
def pairs() -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    golds = [_gold(rng) for _ in range(MIN_PARALLEL_ITEMS + 500)]
    return [format_plan(g) for g in golds], [_prediction(rng, g) for g in golds]


@pytest.mark.parametrize("args_mode", ["normalized", "strict", "ignore"])
def test_worker_processes_give_the_same_report(pairs, args_mode):
    golds, preds = pairs
    one = score_plans(golds, preds, args_mode=args_mode)
    two = score_plans(golds, preds, args_mode=args_mode, processes=2)
    assert format_report(two) == format_report(one)
    assert 0 < one["summary"]["success_rate"] < 1 and one["summary"]["errors"]["parse"] > 0


def test_chunks_come_back_in_order_from_other_processes():
    def work(start: int, stop: int) -> list[tuple[int, int]]:
        return [(i, os.getpid()) for i in range(start, stop)]

    count = MIN_PARALLEL_ITEMS * 2
    items = chunked_map(work, count, processes=2)
    assert [i for i, _ in items] == list(range(count))
    assert os.getpid() not in {pid for _, pid in items}
    small = chunked_map(work, MIN_PARALLEL_ITEMS - 1, processes=2)
    assert {pid for _, pid in small} == {os.getpid()}  # too few to pay for workers


def test_a_reference_in_a_nested_list_still_counts_in_a_forced_match():
    # The nested "$N" is no dependency, but it is compared through the mapping like any reference.
    gold = '1. get_email_address("a")\n2. get_email_address("b")\n3. send_sms([["$1"]], "x")'
    assert score_plan(gold, gold.replace("[[\"$1\"]]", "[[\"$1\"]] ")).success
    assert not score_plan(gold, gold.replace('"$1"', '"$2"')).success
    swapped = '1. get_email_address("b")\n2. get_email_address("a")\n3. send_sms([["$2"]], "x")'
    assert score_plan(gold, swapped).success
