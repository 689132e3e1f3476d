"""Server parts without a model: plan text -> steps (whole and streamed), OpenAI schemas, the batcher."""

from __future__ import annotations

import asyncio
import threading

import pytest

from planner_eval.catalog import TOOL_NAMES, TOOLS
from serve.batching import Batcher, QueueFull, RequestTimeout
from serve.openai_compat import catalog_schemas, tool_calls
from serve.steps import StepStream, analyse_plan, plan_steps

PLAN = (
    'Thought: two lookups first.\n'
    '1. get_email_address("Sid")\n'
    '2. get_email_address("Nick")\n'
    '3. compose_new_email(["$1"], ["$2", "$1"], "Budget", "Send the Q3 budget", [])\n'
    '4. join()<END_OF_PLAN>'
)


def test_steps_key_arguments_by_catalog_names_and_list_dependencies():
    actions, valid = analyse_plan(PLAN)
    steps = plan_steps(actions)
    assert valid and [s["id"] for s in steps] == [1, 2, 3]
    assert steps[2] == {
        "id": 3, "tool": "compose_new_email",
        "args": {"recipients": ["$1"], "cc": ["$2", "$1"], "subject": "Budget", "context": "Send the Q3 budget", "attachments": []},
        "depends_on": [1, 2],
    }


@pytest.mark.parametrize("size", [1, 2, 3, 7, 40, len(PLAN)])
def test_streamed_steps_come_when_their_line_completes_and_equal_the_whole_plans(size):
    stream, seen = StepStream(), []
    for start in range(0, len(PLAN), size):
        chunk = PLAN[start : start + size]
        for step in stream.feed(chunk):
            # A step is only sent once the text holds its whole line (and the newline ending it).
            assert f"{step['id']}. {step['tool']}(" in PLAN[: start + size].rsplit("\n", 1)[0]
            seen.append(step)
    seen += stream.close()
    assert seen == plan_steps(analyse_plan(PLAN)[0])


def test_stream_ignores_what_follows_join_as_the_parser_does():
    stream = StepStream()
    assert stream.feed('1. join()\n2. get_phone_number("x")\n') == [] and stream.close() == []


def test_tool_calls_are_call_n_with_json_object_arguments_and_references_kept():
    calls = tool_calls(plan_steps(analyse_plan(PLAN)[0]))
    assert [c["id"] for c in calls] == ["call_1", "call_2", "call_3"]
    assert calls[2]["function"] == {
        "name": "compose_new_email",
        "arguments": '{"recipients": ["$1"], "cc": ["$2", "$1"], "subject": "Budget", "context": "Send the Q3 budget", "attachments": []}',
    }


def test_catalog_schemas_type_every_argument():
    schemas = {s["function"]["name"]: s["function"]["parameters"] for s in catalog_schemas()}
    assert list(schemas) == list(TOOL_NAMES)
    reminder = schemas["create_reminder"]["properties"]
    assert (reminder["priority"]["type"], reminder["all_day"]["type"], reminder["name"]["type"]) == ("integer", "boolean", "string")
    assert schemas["send_sms"]["properties"]["recipients"] == {
        "type": "array", "items": {"type": "string"}, "description": TOOLS["send_sms"].args[0].description}


def _run(coroutine):
    return asyncio.run(coroutine)


def test_batcher_groups_what_arrives_together_and_answers_each_in_order():
    sizes = []

    def double(items):
        sizes.append(len(items))
        return [2 * i for i in items]

    async def scenario():
        batcher = Batcher(double, max_batch=4, queue_size=16, window_s=0.05)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        finally:
            await batcher.close()

    assert _run(scenario()) == [2 * i for i in range(10)]
    assert sizes == [4, 4, 2]


def test_batcher_refuses_past_its_queue_times_out_and_serves_on():
    gate = threading.Event()

    def work(items):
        gate.wait(5)
        return items

    async def scenario():
        # Long enough that a stalled machine does not time the first two out before the third.
        batcher = Batcher(work, max_batch=2, queue_size=1, window_s=0, timeout_s=1.0)
        batcher.start()
        try:
            running = asyncio.ensure_future(batcher.submit(1))
            await asyncio.sleep(0)
            while batcher.queued:  # until the worker takes it, and then waits at the gate
                await asyncio.sleep(0.01)
            queued = asyncio.ensure_future(batcher.submit(2))
            await asyncio.sleep(0)
            with pytest.raises(QueueFull) as full:
                await batcher.submit(3)
            assert full.value.retry_after >= 1
            for task in (running, queued):
                with pytest.raises(RequestTimeout):
                    await task
            assert batcher.queued == 0  # the timed-out request gave its place back
            gate.set()
            return await batcher.submit(5)
        finally:
            await batcher.close()

    assert _run(scenario()) == 5


def test_an_exception_as_a_result_fails_only_its_own_request():
    async def scenario():
        batcher = Batcher(lambda items: [ValueError("no") if i < 0 else i for i in items], max_batch=4, window_s=0.05)
        batcher.start()
        try:
            return await asyncio.gather(batcher.submit(-1), batcher.submit(5), return_exceptions=True)
        finally:
            await batcher.close()

    failed, answered = _run(scenario())
    assert isinstance(failed, ValueError) and answered == 5


def test_a_request_run_alone_waits_for_the_batch_before_it_and_never_joins_one():
    log = []

    async def scenario():
        batcher = Batcher(lambda items: log.append(("batch", list(items))) or items, max_batch=8, window_s=0.05)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(1))
            await asyncio.sleep(0)
            alone = await batcher.submit_alone(lambda: log.append(("alone",)) or "streamed")
            later = asyncio.ensure_future(batcher.submit(2))
            return await first, await alone, await later
        finally:
            await batcher.close()

    assert _run(scenario()) == (1, "streamed", 2)
    assert log == [("batch", [1]), ("alone",), ("batch", [2])]
