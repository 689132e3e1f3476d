"""Grammar-constrained plan generation: the grammar itself, sampled generations from a random tiny model,
closing within the token budget, and the argument checks of `generate_plans`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import xgrammar
from transformers import LogitsProcessor
from transformers.generation.streamers import BaseStreamer

from pathlib import Path

from planner_eval.catalog import JOIN, TOOL_NAMES, TOOLS, Tool, ToolArg
from planner_eval.catalog_io import read_catalog
from planner_eval.parse import MAX_LINE_CHARS, parse_plan
from planner_eval.plan import END_OF_PLAN, reference_id
from planner_eval.validate import plan_error
from tinyagent_ft.data import generate_splits
from tinyagent_ft.generation import generate_plans, generate_plans_with_stats
from tinyagent_ft import grammar
from tinyagent_ft.grammar import MAX_ACTIONS, MAX_LINE_BYTES, closing_reserve, plan_grammars
from tinyagent_ft.models import TinyShape, build_tiny
from tinyagent_ft.prompts import PromptBuilder, PromptConfig

TINY = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=500)
TOOL_SETS = [
    ["create_calendar_event", "get_email_address"],  # list[str] and a nullable str
    ["create_reminder", "get_zoom_meeting_link"],  # int and bool
    ["get_phone_number", "send_sms", "compose_new_email"],
    list(TOOL_NAMES),
]


@pytest.fixture(scope="module")
def records():
    return list(generate_splits(60, 0, 0, seed=0)["train"].values())


@pytest.fixture(scope="module")
def tiny(records):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is overhead-bound; more threads only contend on a shared CPU
    texts = [r["input"] for r in records] + [step_output(r) for r in records]
    yield build_tiny(texts, TINY, seed=0)
    torch.set_num_threads(threads)


def step_output(record) -> str:
    return next(step["raw_output"] for step in record["output"] if step["type"] == "plan")


def record_tools(record) -> list[str]:
    plan = next(step for step in record["output"] if step["type"] == "plan")
    return sorted({call["tool_name"] for call in plan["parsed_output"]} - {JOIN})


def matcher(tokenizer, tools):
    return xgrammar.GrammarMatcher(plan_grammars(tokenizer, len(tokenizer)).get(tools).compiled)


def accepts(tokenizer, tools, plan: str) -> bool:
    m = matcher(tokenizer, tools)
    return m.accept_string(plan) and m.is_completed()


# --- the grammar ---------------------------------------------------------------------------------

def test_grammar_accepts_every_generated_gold_plan_over_its_tools(tiny, records):
    _, tokenizer = tiny
    for record in records:
        assert accepts(tokenizer, record_tools(record), step_output(record)), step_output(record)


EMAIL = ["get_email_address", "compose_new_email"]


@pytest.mark.parametrize("plan", [
    '1. get_email_address("Sid")\n2. compose_new_email(["$1"], [], "Budget", "Send it", [])\n3. join()<END_OF_PLAN>',
    '1. get_email_address("Sid")\n2. get_email_address("Nick")\n3. compose_new_email(["$1", "$2"], ["$2"], "$1", "", [])\n4. join()<END_OF_PLAN>',
    '1. get_email_address("José \\"Pepe\\" Núñez\\n\\t\\\\")\n2. join()<END_OF_PLAN>',
    '1. get_email_address("costs \\u00242")\n2. join()<END_OF_PLAN>',  # the writers' escaped $
])
def test_grammar_accepts_valid_plans(tiny, plan):
    assert accepts(tiny[1], EMAIL, plan)


@pytest.mark.parametrize("tools, plan", [
    (EMAIL, '1. compose_new_email(["$2"], [], "s", "c", [])\n2. join()<END_OF_PLAN>'),  # forward reference
    (EMAIL, '1. join()<END_OF_PLAN>'),  # no action although the prompt offers tools
    (EMAIL, '1. get_email_address("$1")\n2. join()<END_OF_PLAN>'),  # reference to itself
    (EMAIL, '1. get_email_address("Sid")\n2. get_email_address("$2\\n")\n3. join()<END_OF_PLAN>'),  # parses as $2
    (EMAIL, '1. get_email_address("Sid")\n2. get_email_address("$01")\n3. join()<END_OF_PLAN>'),  # parses as $1
    (EMAIL, '1. send_sms(["1"], "hi")\n2. join()<END_OF_PLAN>'),  # a tool the prompt does not list
    (EMAIL, '1. get_email_address("Sid")\n3. join()<END_OF_PLAN>'),  # ids must be consecutive
    (EMAIL, '1. get_email_address("Sid")\n2. join()'),  # no end marker
    (EMAIL, '1. get_email_address(None)\n2. join()<END_OF_PLAN>'),  # None where the catalog forbids it
    (EMAIL, '1. get_email_address(\'Sid\')\n2. join()<END_OF_PLAN>'),  # single quotes
    (EMAIL, '1. get_email_address("Sid\u2028")\n2. join()<END_OF_PLAN>'),  # a line separator splits the line
    (["create_reminder"], '1. create_reminder("a", "", "", "", "5", True)\n2. join()<END_OF_PLAN>'),  # str for int
    (["create_reminder"], '1. create_reminder("a", "", "", "", 5, 1)\n2. join()<END_OF_PLAN>'),  # int for bool
    (["create_reminder"], '1. create_reminder("a", "", "", "", 007, True)\n2. join()<END_OF_PLAN>'),  # not Python
    (["create_reminder"], '1. create_reminder("a", "", "", "", 5)\n2. join()<END_OF_PLAN>'),  # argument missing
    (["send_sms"], '1. send_sms("5551234", "hi")\n2. join()<END_OF_PLAN>'),  # str for list[str]
    (EMAIL, '1. get_email_address("Sid")\n2. get_email_address("$1\\t")\n3. join()<END_OF_PLAN>'),  # "$1" + escape
])
def test_grammar_rejects_invalid_plans(tiny, tools, plan):
    assert not accepts(tiny[1], tools, plan)


# LLMCompiler's executor reads `$N` and `${N}` anywhere in an argument as a dependency; a raw `$` in a
# plain string is refused so that no accepted plan hides one (a dollar is written \u0024).
@pytest.mark.parametrize("text", ["I owe you $2", "$2 coffee", " $1 ", "${1}", "$", "costs $", "$1<"])
def test_plain_strings_hold_no_raw_dollar(tiny, text):
    plan = f'1. get_email_address("Sid")\n2. get_email_address("{text}")\n3. join()<END_OF_PLAN>'
    assert not accepts(tiny[1], EMAIL, plan)
    escaped = text.replace("$", "\\u0024")
    assert accepts(tiny[1], EMAIL, plan.replace(text, escaped))


def test_strings_never_hold_the_end_marker(tiny):
    assert accepts(tiny[1], EMAIL, '1. get_email_address("a<b <3 <")\n2. join()<END_OF_PLAN>')
    assert not accepts(tiny[1], EMAIL, '1. get_email_address("x<END_OF_PLAN>")\n2. join()<END_OF_PLAN>')
    assert not accepts(tiny[1], EMAIL, '1. get_email_address("<<END_OF_PLAN>")\n2. join()<END_OF_PLAN>')


def test_grammar_allows_none_only_for_nullable_arguments(tiny):
    event = '1. create_calendar_event("t", "2026-01-01 10:00:00", "2026-01-01 11:00:00", "", [], "", {})\n2. join()<END_OF_PLAN>'
    assert accepts(tiny[1], ["create_calendar_event"], event.format("None"))
    assert not accepts(tiny[1], ["create_calendar_event"], event.replace('"t"', "None").format("None"))


def test_grammar_bounds_the_number_of_actions(tiny):
    lines = [f'{i}. get_email_address("x")' for i in range(1, MAX_ACTIONS + 2)]
    at_bound = "\n".join(lines[:MAX_ACTIONS] + [f"{MAX_ACTIONS + 1}. join()<END_OF_PLAN>"])
    over = "\n".join(lines + [f"{MAX_ACTIONS + 2}. join()<END_OF_PLAN>"])
    assert accepts(tiny[1], EMAIL, at_bound) and not accepts(tiny[1], EMAIL, over)


def test_compiled_grammars_are_cached_by_tool_set(tiny):
    grammars = plan_grammars(tiny[1], len(tiny[1]))
    assert grammars.get(["send_sms", "get_phone_number"]) is grammars.get(["get_phone_number", "send_sms"])
    assert grammars.get(["send_sms"]) is not grammars.get(["get_phone_number", "send_sms"])
    with pytest.raises(ValueError, match="unknown tool"):
        grammars.get(["teleport"])


# --- constrained generation from a random model ------------------------------------------------

def prompts_for(tokenizer, tool_sets, query="email Sid about the budget and remind me tomorrow"):
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=1024))
    return [builder.inference_prompt(query, tools) for tools in tool_sets]


def argument_type_ok(arg, value, action_id: int) -> bool:
    if reference_id(value) is not None:  # a whole-string reference fills any slot
        return 1 <= reference_id(value) < action_id
    if value is None:
        return arg.nullable
    if arg.type == "int":
        return type(value) is int
    if arg.type == "bool":
        return type(value) is bool
    values = value if arg.type == "list[str]" else [value]
    if arg.type == "list[str]" and not isinstance(value, list):
        return False
    refs = [reference_id(v) for v in values]
    return all(isinstance(v, str) for v in values) and all(r is None or 1 <= r < action_id for r in refs)


def test_sampled_constrained_plans_all_parse_validate_and_use_only_the_prompts_tools(tiny):
    model, tokenizer = tiny
    tool_sets = [tools for tools in TOOL_SETS for _ in range(25)]
    torch.manual_seed(0)
    max_new_tokens = 160
    plans, stats = generate_plans_with_stats(
        model, tokenizer, prompts_for(tokenizer, tool_sets), tools=tool_sets, max_new_tokens=max_new_tokens,
        batch_size=25, generation_kwargs={"do_sample": True},
    )
    assert len(plans) == 100 and len(set(plans)) >= 60  # sampling: the plans really differ
    assert max(stats.tokens_per_plan) <= max_new_tokens and stats.new_tokens == sum(stats.tokens_per_plan)
    for plan, tools in zip(plans, tool_sets):
        check_plan(plan, tools)


def check_plan(plan: str, tools: list[str]) -> None:
    """Asserts that ``plan`` is complete, valid, typed as the catalog says and over ``tools``."""
    assert plan.endswith(END_OF_PLAN), plan
    parsed = parse_plan(plan)
    assert plan_error(parsed) == (None, None) and parsed.has_join, plan
    for action in parsed.actions:
        assert action.tool in tools, plan
        spec = TOOLS[action.tool].args
        assert len(action.args) == len(spec), plan
        assert all(argument_type_ok(arg, value, action.id) for arg, value in zip(spec, action.args)), plan


class Prefer(LogitsProcessor):
    """A model with a mind of its own: step k strongly prefers the k-th of ``tokens``."""

    def __init__(self, tokens: list[int]):
        self.tokens = tokens
        self.prompt_length = None

    @classmethod
    def text(cls, tokenizer, text: str) -> Prefer:
        """Prefer ``text``, then the end of the sequence."""
        return cls(tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"])

    def __call__(self, input_ids, scores):
        self.prompt_length = self.prompt_length or input_ids.shape[1]
        step = input_ids.shape[1] - self.prompt_length
        if step < len(self.tokens):
            scores[:, self.tokens[step]] += 100.0
        return scores


def plan_preferring(tiny, text: str, tools: list[str]) -> str:
    model, tokenizer = tiny
    return generate_plans_with_stats(model, tokenizer, prompts_for(tokenizer, [tools]), tools=[tools],
                                     max_new_tokens=200, generation_kwargs={"logits_processor": [Prefer.text(tokenizer, text)]})[0][0]


def test_a_model_writing_valid_references_is_left_alone(tiny):
    plan = ('1. get_email_address("Sid")\n2. get_email_address("Nick")\n'
            '3. compose_new_email(["$1", "$2"], ["$2"], "Budget", "$1", [])\n4. join()<END_OF_PLAN>')
    assert plan_preferring(tiny, plan, EMAIL) == plan


@pytest.mark.parametrize("wanted", [
    '1. compose_new_email(["$2"], [], "Budget", "", [])\n2. get_email_address("Sid")\n3. join()<END_OF_PLAN>',
    '1. get_email_address("Sid")\n2. compose_new_email(["$1", "$2"], [], "B", "", [])\n3. join()<END_OF_PLAN>',
    '1. get_email_address("Sid")\n2. compose_new_email(["$1"], [], "$3", "", [])\n3. join()<END_OF_PLAN>',
])
def test_a_model_writing_forward_references_is_kept_to_earlier_ones(tiny, wanted):
    plan = plan_preferring(tiny, wanted, EMAIL)
    assert plan != wanted
    check_plan(plan, EMAIL)


@pytest.mark.parametrize("tools", [["create_calendar_event"], ["create_reminder", "send_sms"]])
def test_plans_close_within_a_tight_token_budget(tiny, tools):
    model, tokenizer = tiny
    budget = closing_reserve(tools) + 8  # the closing walk starts almost at once
    torch.manual_seed(1)
    plans, stats = generate_plans_with_stats(
        model, tokenizer, prompts_for(tokenizer, [tools] * 10), tools=[tools] * 10, max_new_tokens=budget,
        generation_kwargs={"do_sample": True},
    )
    assert stats.forced_tokens > 0 and max(stats.tokens_per_plan) <= budget
    for plan in plans:
        assert plan.endswith(END_OF_PLAN) and plan_error(parse_plan(plan)) == (None, None), plan


def test_a_plan_that_fits_the_budget_is_not_cut_short(tiny):
    # Once a line names its tool, only that tool's reserve is kept back: a plan ending in a short call may
    # run closer to the budget than the prompt's longest tool (the calendar's seven arguments) would allow.
    model, tokenizer = tiny
    tools = ["create_calendar_event", "get_email_address"]
    named = '1. get_email_address("Sid")\n2. get_email_address('
    plan = named + '"Nick")\n3. join()<END_OF_PLAN>'
    count = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    budget = count(named) + closing_reserve(tools) + 1
    assert budget <= count(plan) + closing_reserve(tools)  # one reserve for all would cut the last line
    got = generate_plans_with_stats(model, tokenizer, prompts_for(tokenizer, [tools]), tools=[tools], max_new_tokens=budget,
                                    generation_kwargs={"logits_processor": [Prefer.text(tokenizer, plan)]})[0][0]
    assert got == plan


def closing_bytes(tools: list[str]) -> int:
    """Bytes the walk may add to end a line: per forced token one byte, or the rest of True/False/None."""
    return 5 * max(closing_reserve([tool]) for tool in tools)


def test_the_line_bound_leaves_room_for_the_walk_under_the_parsers_limit():
    assert MAX_LINE_BYTES + closing_bytes(list(TOOL_NAMES)) < MAX_LINE_CHARS


def test_a_string_that_never_ends_is_cut_at_the_line_bound_and_the_plan_parses(tiny, monkeypatch):
    # Strings are unbounded in the grammar; the processor ends a line near MAX_LINE_BYTES (made small
    # here so the run is short). Unchecked, this line would run on to the token budget.
    model, tokenizer = tiny
    monkeypatch.setattr(grammar, "MAX_LINE_BYTES", 120)
    endless = '1. compose_new_email([], [], "' + "x" * 2000
    plan = generate_plans_with_stats(model, tokenizer, prompts_for(tokenizer, [EMAIL]), tools=[EMAIL], max_new_tokens=1000,
                                     generation_kwargs={"logits_processor": [Prefer.text(tokenizer, endless)]})[0][0]
    first = plan.splitlines()[0].encode()
    longest_piece = max(len(piece) for piece in plan_grammars(tokenizer, len(tokenizer)).pieces)
    assert 120 - longest_piece < len(first) <= 120 + closing_bytes(EMAIL), plan
    assert plan.endswith(END_OF_PLAN) and plan_error(parse_plan(plan)) == (None, None), plan


def test_greedy_generation_is_deterministic_and_keeps_the_prompts_order(tiny):
    model, tokenizer = tiny
    tool_sets = TOOL_SETS
    prompts = prompts_for(tokenizer, tool_sets)
    together = generate_plans(model, tokenizer, prompts, tools=tool_sets, max_new_tokens=100, batch_size=4)
    alone = [generate_plans(model, tokenizer, [p], tools=[t], max_new_tokens=100)[0] for p, t in zip(prompts, tool_sets)]
    assert together == alone  # left padding in a batch changes nothing


class Collect(BaseStreamer):
    def __init__(self):
        self.chunks = []

    def put(self, value):
        self.chunks.append(value)

    def end(self):
        self.chunks.append(None)


def test_streamer_sees_the_generation_of_a_single_prompt(tiny):
    model, tokenizer = tiny
    streamer = Collect()
    plan = generate_plans(model, tokenizer, prompts_for(tokenizer, [EMAIL]), tools=[EMAIL], streamer=streamer,
                          max_new_tokens=100)[0]
    assert streamer.chunks[-1] is None and len(streamer.chunks) > 2 and plan.endswith(END_OF_PLAN)


def test_generate_rejects_bad_arguments(tiny):
    model, tokenizer = tiny
    prompts = prompts_for(tokenizer, [EMAIL, EMAIL])
    with pytest.raises(ValueError, match="needs tools"):
        generate_plans(model, tokenizer, prompts)
    with pytest.raises(ValueError, match="needs tools"):
        generate_plans(model, tokenizer, prompts, tools=[EMAIL])
    with pytest.raises(ValueError, match="one prompt"):
        generate_plans(model, tokenizer, prompts, tools=[EMAIL, EMAIL], streamer=Collect())
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_plans(model, tokenizer, prompts, tools=[EMAIL, EMAIL], max_new_tokens=closing_reserve(EMAIL) - 1)


# --- the grammar of any catalog ------------------------------------------------------------------

HOME = read_catalog(Path(__file__).parent / "data" / "home_tools.json")


def home_accepts(tokenizer, tools, plan: str) -> bool:
    m = xgrammar.GrammarMatcher(plan_grammars(tokenizer, len(tokenizer)).get(tools, HOME).compiled)
    return m.accept_string(plan) and m.is_completed()


@pytest.mark.parametrize("plan", [
    '1. find_device("hall")\n2. set_thermostat("$1", 21.5, "heat")\n3. join()<END_OF_PLAN>',
    '1. set_thermostat("t1", -3)\n2. set_thermostat("t2", 0.25)\n3. join()<END_OF_PLAN>',  # mode left out
    '1. find_device("hall")\n2. set_lights(["$1", "l2"], True, 40)\n3. set_lights("$1", False)\n4. join()<END_OF_PLAN>',
    '1. schedule_scene("morning", [1, 2, 5], None)\n2. schedule_scene("$1", [], "wake up")\n3. join()<END_OF_PLAN>',
    '1. play_music("jazz", 20, False)\n2. play_music("$1", "$1", "$1")\n3. join()<END_OF_PLAN>',  # a reference fills any slot
])
def test_a_catalogs_grammar_accepts_plans_of_its_types(tiny, plan):
    assert home_accepts(tiny[1], list(HOME), plan)


@pytest.mark.parametrize("plan", [
    '1. set_thermostat("t1", 21.5, "warm")\n2. join()<END_OF_PLAN>',  # not an enum value
    '1. play_music("jazz", 30, False)\n2. join()<END_OF_PLAN>',  # an int outside the enum
    '1. set_thermostat("t1", "21")\n2. join()<END_OF_PLAN>',  # str for number
    '1. set_lights(["l1"], 1)\n2. join()<END_OF_PLAN>',  # int for bool
    '1. set_lights(["l1"], true)\n2. join()<END_OF_PLAN>',  # JSON's bool, not Python's
    '1. set_lights(["l1"])\n2. join()<END_OF_PLAN>',  # a required argument left out
    '1. set_lights(["l1"], True, None)\n2. join()<END_OF_PLAN>',  # None where a default stands
    '1. schedule_scene("m", ["1"], None)\n2. join()<END_OF_PLAN>',  # str items for list[int]
    '1. schedule_scene("m", [1])\n2. join()<END_OF_PLAN>',  # a required nullable argument left out
    '1. find_device(None)\n2. join()<END_OF_PLAN>',  # not nullable
    '1. play_music("$1", 10, True)\n2. join()<END_OF_PLAN>',  # no earlier action
    '1. find_device("hall")\n2. set_thermostat("t", 21, "$2")\n3. join()<END_OF_PLAN>',  # not earlier
])
def test_a_catalogs_grammar_rejects_values_outside_its_types(tiny, plan):
    assert not home_accepts(tiny[1], list(HOME), plan)


def test_grammars_of_different_catalogs_sharing_tool_names_are_cached_apart(tiny):
    grammars = plan_grammars(tiny[1], len(tiny[1]))
    other = dict(HOME, find_device=Tool("find_device", "", (ToolArg("room", "int", ""),), "any"))
    assert grammars.get(["find_device"], HOME) is grammars.get(["find_device"], dict(HOME))
    assert grammars.get(["find_device"], HOME) is not grammars.get(["find_device"], other)
    assert home_accepts(tiny[1], ["find_device"], '1. find_device("hall")\n2. join()<END_OF_PLAN>')


def test_types_without_a_grammar_are_named_not_left_unconstrained():
    catalog = {"book": Tool("book", "", (ToolArg("when", "str", ""), ToolArg("extra", "any", "")), "any")}
    with pytest.raises(ValueError, match=r"tool 'book', argument 'extra'"):
        grammar.check_catalog_grammar(catalog)
    with pytest.raises(ValueError, match="argument 'extra'"):
        grammar.plan_ebnf(["book"], catalog)
    grammar.check_catalog_grammar(HOME)


def test_sampled_plans_over_a_catalog_hold_its_types(tiny):
    model, tokenizer = tiny
    tool_sets = [list(HOME)] * 20 + [["set_thermostat", "play_music"]] * 20
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=1024), catalog=HOME)
    prompts = [builder.inference_prompt("warm the hall and play jazz", tools) for tools in tool_sets]
    torch.manual_seed(1)
    plans = generate_plans(model, tokenizer, prompts, tools=tool_sets, catalog=HOME, max_new_tokens=200,
                           batch_size=20, generation_kwargs={"do_sample": True})
    for plan, tools in zip(plans, tool_sets):
        parsed = parse_plan(plan, HOME)
        assert plan.endswith(END_OF_PLAN) and parsed.actions, plan
        assert plan_error(parsed, HOME, check_args=True) == (None, None), plan
        assert {a.tool for a in parsed.actions} <= set(tools), plan


def test_a_catalogs_plans_close_within_a_tight_budget(tiny):
    model, tokenizer = tiny
    tools = list(HOME)
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=1024), catalog=HOME)
    budget = closing_reserve(tools, HOME) + 4
    plans = generate_plans(model, tokenizer, [builder.inference_prompt("lights off", tools)] * 4, tools=[tools] * 4,
                           catalog=HOME, max_new_tokens=budget, generation_kwargs={"do_sample": True})
    for plan in plans:
        assert plan.endswith(END_OF_PLAN) and plan_error(parse_plan(plan, HOME), HOME, check_args=True)[0] is None, plan
