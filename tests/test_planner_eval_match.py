"""DAG isomorphism with arguments: modes, renumbering, reference positions, types."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner_eval.graph import to_digraph
from planner_eval.match import plans_match
from planner_eval.parse import parse_plan
from planner_eval.plan import Action, format_plan, references
from planner_eval.score import score_plan

GOLD = """1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. join()<END_OF_PLAN>"""

MODES = ("normalized", "strict", "ignore")


def success(gold: str, pred: str, mode: str = "normalized") -> bool:
    return score_plan(gold, pred, mode).success


@pytest.mark.parametrize("mode", MODES)
def test_identical_renumbered_and_reordered_plans_match(mode):
    renumbered = """Thought: Nick first this time.
2. get_email_address("Nick")
5. get_email_address("Sid")
9. compose_new_email(["$5"], ["$2"], "Budget", "Send the Q3 budget", [])"""
    assert success(GOLD, GOLD, mode)
    assert success(GOLD, renumbered, mode)


@pytest.mark.parametrize("mode, expected", [("normalized", False), ("strict", False), ("ignore", True)])
def test_swapping_recipients_and_cc_fails_unless_arguments_are_ignored(mode, expected):
    swapped = GOLD.replace('["$1"], ["$2"]', '["$2"], ["$1"]')
    assert parse_plan(swapped).actions[2].args[:2] == [["$2"], ["$1"]]
    assert success(GOLD, swapped, mode) is expected


def test_swapping_lookups_and_references_together_is_the_same_plan():
    pred = GOLD.replace('"Sid"', '"X"').replace('"Nick"', '"Sid"').replace('"X"', '"Nick"')
    pred = pred.replace('["$1"], ["$2"]', '["$2"], ["$1"]')
    assert success(GOLD, pred, "strict")


def test_normalized_mode_changes_strings_and_list_order_only():
    gold = '1. create_calendar_event("Team  Sync", "", "", "Room 1", ["a@x.com", "b@x.com"], "", None)'
    pred = '1. create_calendar_event(" team sync ", "", "", "ROOM\t1", ["B@x.com", "a@x.com"], "", None)'
    assert success(gold, pred, "normalized")
    assert not success(gold, pred, "strict")
    assert success(gold, pred, "ignore")
    doubled = '1. create_calendar_event("team sync", "", "", "room 1", ["a@x.com", "a@x.com"], "", None)'
    assert not success(gold.replace('"b@x.com"', '"a@x.com", "b@x.com"'), doubled)  # multisets, not sets


def test_lists_of_references_are_multisets_in_normalized_mode_only():
    gold = '1. get_phone_number("a")\n2. get_phone_number("b")\n3. send_sms(["$1", "$2"], "hi")'
    pred = gold.replace('["$1", "$2"]', '["$2", "$1"]')
    assert success(gold, pred, "normalized")
    assert not success(gold, pred, "strict")
    duplicated = gold.replace('["$1", "$2"]', '["$1", "$1"]')
    assert not success(gold, duplicated, "normalized")


@pytest.mark.parametrize("mode", ["normalized", "strict"])
@pytest.mark.parametrize(
    "gold_value, pred_value",
    [("1", "True"), ("0", "False"), ("5", '"5"'), ("None", '""'), ("1", "1.0"), ('"None"', "None"), ("[]", '""')],
)
def test_argument_types_matter_in_every_mode(mode, gold_value, pred_value):
    gold = f'1. create_reminder("x", "", "", "", {gold_value}, False)'
    pred = f'1. create_reminder("x", "", "", "", {pred_value}, False)'
    assert success(gold, gold, mode)
    assert not success(gold, pred, mode)
    assert success(gold, pred, "ignore")  # arguments are not compared at all


def test_top_level_reference_positions_are_kept():
    gold = '1. get_email_address("a")\n2. get_email_address("b")\n3. create_note("$1", "$2", "")'
    pred = gold.replace('("$1", "$2"', '("$2", "$1"')
    assert not success(gold, pred)
    assert success(gold, pred, "ignore")


def test_a_reference_is_not_a_string_and_not_an_edge_in_disguise():
    gold = '1. get_email_address("a")\n2. create_note("$1", "x", "")'
    assert not success(gold, '1. get_email_address("a")\n2. create_note("$1 ", "x", "")')
    assert not success(gold, '1. get_email_address("a")\n2. create_note("see $1", "x", "")', "ignore")


def test_same_labels_different_structure_fail():
    gold = '1. get_email_address("a")\n2. get_email_address("a")\n3. send_sms(["$1"], "m")\n4. send_sms(["$2"], "m")'
    fan = '1. get_email_address("a")\n2. get_email_address("a")\n3. send_sms(["$1"], "m")\n4. send_sms(["$1"], "m")'
    crossed = '1. get_email_address("a")\n2. get_email_address("a")\n3. send_sms(["$2"], "m")\n4. send_sms(["$1"], "m")'
    assert success(gold, crossed, "strict")
    for mode in MODES:
        assert not success(gold, fan, mode)


def test_extra_or_missing_actions_fail_but_earn_partial_credit():
    extra = GOLD.replace("4. join()", '4. get_phone_number("Sid")\n5. join()')
    result = score_plan(GOLD, extra)
    assert not result.success and result.error is None and not result.tool_set_match
    assert result.tool_recall == 1.0 and result.tool_precision == 0.75 and result.length_error == 1
    assert result.edge_f1 == 1.0
    fewer = score_plan(GOLD, '1. get_email_address("Sid")\n2. compose_new_email(["$1"], [], "Budget", "x", [])')
    assert not fewer.success and fewer.tool_set_match and fewer.edge_f1 == pytest.approx(2 / 3)


def test_join_only_plans():
    assert success("1. join()", "1. join()<END_OF_PLAN>")
    assert success("1. join()", "join()")
    result = score_plan("1. join()", '1. get_phone_number("a")\n2. join()')
    assert not result.success and result.error is None and result.tool_precision == 0.0
    assert not success(GOLD, "1. join()")
    assert score_plan("1. join()", "").error == "parse"


def test_tool_set_is_computed_for_invalid_predictions():
    bad_ref = GOLD.replace('["$2"]', '["$7"]')
    result = score_plan(GOLD, bad_ref)
    assert result.error == "bad_reference" and not result.success and result.tool_set_match
    dup = GOLD.replace("2. get_email_address", "1. get_email_address")
    assert score_plan(GOLD, dup).error == "duplicate_id" and score_plan(GOLD, dup).tool_set_match
    unknown = score_plan(GOLD, GOLD.replace("compose_new_email", "compose_email"))
    assert unknown.error == "unknown_tool" and not unknown.tool_set_match


def test_invalid_gold_and_missing_prediction():
    result = score_plan('1. get_phone_number("a")\n1. get_phone_number("b")', GOLD)
    assert result.error == "gold_invalid" and not result.success and result.tool_f1 is None
    missing = score_plan(GOLD, None)
    assert missing.error == "missing" and not missing.success and missing.length_error == 3
    with pytest.raises(ValueError):
        score_plan(GOLD, GOLD, "fuzzy")


# Property tests: random DAGs of send_sms actions whose recipients list holds the references and
# whose message ("a" or "b") is the label; many equal labels make the search work for its answer.


@st.composite
def dags(draw, max_nodes: int = 7) -> list[Action]:
    n = draw(st.integers(0, max_nodes))
    actions = []
    for i in range(1, n + 1):
        refs = draw(st.lists(st.integers(1, i - 1), unique=True, max_size=3)) if i > 1 else []
        actions.append(Action(i, "send_sms", [[f"${r}" for r in refs], draw(st.sampled_from("ab"))]))
    return actions


def relabel(actions: list[Action], rng: random.Random, cosmetic: bool) -> list[Action]:
    """Another topological order, fresh increasing ids with gaps, shuffled lists, changed case."""
    placed: list[Action] = []
    waiting = list(actions)
    while waiting:
        done = {a.id for a in placed}
        ready = [a for a in waiting if set(references(a.args)) <= done]
        placed.append(waiting.pop(waiting.index(rng.choice(ready))))
    ids = sorted(rng.sample(range(1, 100), len(placed)))
    new_id = {a.id: ids[k] for k, a in enumerate(placed)}
    out = []
    for a in placed:
        recipients = [f"${new_id[r]}" for r in references(a.args)]
        message = a.args[1]
        if cosmetic:
            rng.shuffle(recipients)
            message = f"  {message.upper()} "
        out.append(Action(new_id[a.id], a.tool, [recipients, message]))
    return out


def oracle(gold: list[Action], pred: list[Action]) -> bool:
    return nx.is_isomorphic(
        to_digraph(gold), to_digraph(pred), node_match=lambda x, y: x["args"][1].strip().lower() == y["args"][1].strip().lower()
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.randoms(use_true_random=False))
def test_any_renumbering_and_reordering_matches(gold, rng):
    pred = relabel(gold, rng, cosmetic=True)
    assert success(format_plan(gold), format_plan(pred), "normalized")
    assert success(format_plan(gold), format_plan(pred), "ignore")
    assert success(format_plan(gold), format_plan(relabel(gold, rng, cosmetic=False)), "strict")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.randoms(use_true_random=False), st.integers(0, 2))
def test_agrees_with_networkx_isomorphism(gold, rng, change):
    pred = relabel(gold, rng, cosmetic=True)
    if change and pred:
        # Rewire one action or flip one label: usually, not always, a different graph.
        k = rng.randrange(len(pred))
        earlier = [f"${a.id}" for a in pred[:k]]
        if change == 1:
            pred[k].args[0] = rng.sample(earlier, rng.randint(0, min(3, len(earlier))))
        else:
            pred[k].args[1] = "b" if pred[k].args[1].strip().lower() == "a" else "a"
    assert plans_match(gold, pred, "normalized") == oracle(gold, pred)


def test_reference_positions_are_checked_when_actions_look_alike():
    # Both notes read the same two lookups, so colours cannot tell them apart; only the
    # positions of the references can.
    gold = (
        '1. get_email_address("a")\n2. get_email_address("b")\n'
        '3. create_note("$1", "$2", "")\n4. create_note("$1", "$2", "")'
    )
    pred = gold.replace('4. create_note("$1", "$2", "")', '4. create_note("$2", "$1", "")')
    assert not success(gold, pred, "strict")
    assert success(gold, pred, "ignore")


def test_regular_graphs_that_colour_refinement_cannot_separate():
    lookups = "".join(f'{i}. get_phone_number("x")\n' for i in range(1, 5))

    def texts(pairs):
        return lookups + "\n".join(f'{5 + k}. send_sms(["${a}", "${b}"], "m")' for k, (a, b) in enumerate(pairs))

    one_cycle = texts([(1, 2), (2, 3), (3, 4), (4, 1)])
    two_cycles = texts([(1, 2), (2, 1), (3, 4), (4, 3)])
    relabelled = texts([(2, 3), (3, 4), (4, 1), (1, 2)])
    for mode in MODES:
        assert not success(one_cycle, two_cycles, mode)
        assert success(one_cycle, relabelled, mode)


def test_remembered_keys_of_unchanging_actions_give_the_same_verdicts():
    from planner_eval.parse import shared_parse

    lookups = '1. get_email_address("Sid")\n2. get_email_address("Nick")\n'
    texts = [
        lookups + '3. compose_new_email(["$1"], ["$2"], "Budget", "hi", [])',
        lookups + '3. compose_new_email(["$2"], ["$1"], "Budget", "hi", [])',
        lookups + '3. compose_new_email(["$1", "$2"], [], " budget ", "HI", [])',
        lookups + '3. compose_new_email(["$2", "$1"], [], "Budget", "hi", [])',
        '1. get_email_address("Nick")\n2. get_email_address("Sid")\n3. compose_new_email(["$2"], ["$1"], "Budget", "hi", [])',
    ]
    plans = [shared_parse(text)[0].actions for text in texts]
    for mode in ("normalized", "strict", "ignore"):
        expected = [[plans_match(gold, pred, mode) for pred in plans] for gold in plans]
        assert expected[0][4] and (mode == "ignore" or not expected[0][1])
        for _ in range(2):  # the second time from what was remembered
            assert [[plans_match(gold, pred, mode, unchanging=True) for pred in plans] for gold in plans] == expected
