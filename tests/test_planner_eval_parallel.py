"""Scoring in worker processes gives the same report as scoring in one; the shortcuts keep verdicts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner_eval.cli import format_report
from planner_eval.parallel import CHUNK_ITEMS, MIN_PARALLEL_ITEMS, chunked_map
from planner_eval.plan import Action, format_plan
from planner_eval.report import _read_record, read_plans, score_files_json, score_plans
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


def test_the_first_failing_chunk_in_order_raises_as_in_one_process():
    bad = (CHUNK_ITEMS + 7, 3 * CHUNK_ITEMS + 7)  # in the second and the fourth chunk

    def work(start: int, stop: int) -> list[int]:
        for item in range(start, stop):
            if item in bad:
                raise ValueError(item)
        return list(range(start, stop))

    for processes in (1, 2):
        with pytest.raises(ValueError) as raised:
            chunked_map(work, MIN_PARALLEL_ITEMS * 2, processes=processes)
        assert raised.value.args == (bad[0],)


def test_a_failure_while_other_workers_send_results_does_not_hang():
    # Terminating a pool while a worker sends a large result used to hang it for good, within
    # about 20 such failures (CPython issue 96995); a separate process keeps a hang out of the suite.
    script = textwrap.dedent(f"""
        from planner_eval.parallel import chunked_map

        def work(start, stop):
            if start == 0:
                raise KeyError(start)
            return [("x" * 2000, [i] * 50) for i in range(start, stop)]

        for _ in range(100):
            try:
                chunked_map(work, {MIN_PARALLEL_ITEMS + 500}, processes=2)
            except KeyError:
                continue
            raise SystemExit("the failure did not reach the caller")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_reference_in_a_nested_list_still_counts_in_a_forced_match():
    # The nested "$N" is no dependency, but it is compared through the mapping like any reference.
    gold = '1. get_email_address("a")\n2. get_email_address("b")\n3. send_sms([["$1"]], "x")'
    assert score_plan(gold, gold.replace("[[\"$1\"]]", "[[\"$1\"]] ")).success
    assert not score_plan(gold, gold.replace('"$1"', '"$2"')).success
    swapped = '1. get_email_address("b")\n2. get_email_address("a")\n3. send_sms([["$2"]], "x")'
    assert score_plan(gold, swapped).success


def _reports_agree(tmp_path, gold_lines: list[str], pred_lines: list[str]) -> dict:
    """Scores the files as the command does (lines read ahead, in workers) and line by line in
    one process; the reports and the warnings must be the same. Returns the report."""
    gold_path, pred_path = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold_path.write_text("".join(f"{line}\n" for line in gold_lines))
    pred_path.write_text("".join(f"{line}\n" for line in pred_lines))
    warned: list[str] = []
    summary, results = score_files_json(gold_path, pred_path, warn=warned.append, processes=2)
    expected_warnings: list[str] = []
    gold, gold_skipped = read_plans(gold_path, expected_warnings.append)
    pred, pred_skipped = read_plans(pred_path, expected_warnings.append)
    expected = score_plans(gold, pred)
    expected["summary"]["skipped_lines"] = {"gold": gold_skipped, "pred": pred_skipped}
    assert format_report({"summary": summary, "results": json.loads(f"[{results}]")}) == format_report(expected)
    assert warned == expected_warnings
    return expected


@pytest.mark.parametrize(
    "spoil",
    [
        lambda gold, pred: pred.__setitem__(-5, pred[-5][:30]),  # truncated, late: a worker finds it
        lambda gold, pred: gold.__setitem__(3, gold[3].replace('{"id": "3"', '{"id": "3", "id": "x"')),
        lambda gold, pred: pred.append('{"id": "extra", "plan": 5}'),  # an extra id, found in this process
        lambda gold, pred: pred.__setitem__(7, '{"id": "7", "tool_calls": "x"}'),
        lambda gold, pred: gold.__setitem__(-1, gold[-1].replace('"plan"', '"plan": NaN, "other"')),
        lambda gold, pred: pred.__setitem__(9, pred[9] + " trailing"),
        lambda gold, pred: pred.__setitem__(11, '{"id": "1\t1", "plan": "1. join()"}'),
        lambda gold, pred: pred.__setitem__(12, pred[0]),  # a repeated id
        lambda gold, pred: pred.extend(["", "   ", '{"id": "extra", "plan": "1. join()"}']),  # still plain
        lambda gold, pred: gold.append(json.dumps({"id": '}, {"id": "x', "plan": "1. join()"})),  # not a plain id
    ],
)
def test_lines_read_ahead_give_the_report_of_lines_read_one_by_one(tmp_path, pairs, spoil):
    golds, preds = pairs
    gold = [json.dumps({"id": str(i), "plan": plan}) for i, plan in enumerate(golds)]
    pred = [json.dumps({"id": str(i), "plan": plan}) for i, plan in enumerate(preds)]
    spoil(gold, pred)
    report = _reports_agree(tmp_path, gold, pred)
    assert report["summary"]["n"] >= len(golds) - 1


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.booleans(), st.sampled_from(["", " \r\n", "\n", "x", "}", "\x0b", ', "x": 1}', ', "plan": 1}']))
def test_a_record_line_reads_as_json_reads_it(record_id, plan, ascii_only, tail):
    # Lines written as json.dumps writes {"id", "plan"} take a shortcut past json.loads.
    line = json.dumps({"id": record_id, "plan": plan}, ensure_ascii=ascii_only)
    line = line[:-1] + tail if tail.startswith(",") else line + tail
    try:
        record = json.loads(line)
    except ValueError:
        assert _read_record(line, None)[2].startswith("not valid JSON")
    else:
        plain = isinstance(record["plan"], str)  # a second "plan" key may replace it with a number
        expected = (record["id"], record["plan"], None) if plain else ("", "", 'missing or non-string "plan" (and no "tool_calls" list)')
        assert _read_record(line, None) == expected


def test_a_worker_that_dies_is_an_error_not_a_hang():
    # A worker killed mid-chunk (for lack of memory, say) hung a multiprocessing.Pool for good.
    script = textwrap.dedent(f"""
        import os
        from planner_eval.parallel import WorkerDied, chunked_map

        def work(start, stop):
            if start == {CHUNK_ITEMS}:
                os._exit(9)
            return list(range(start, stop))

        try:
            chunked_map(work, {MIN_PARALLEL_ITEMS * 2}, processes=2)
        except WorkerDied as error:
            print(error)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "ended abruptly" in done.stdout, done.stderr
