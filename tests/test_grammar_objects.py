"""Object arguments under the plan grammar: dict literals from a schema's `properties` and `required`,
as planner_eval writes them, and plans a random model closes from inside an object."""

from __future__ import annotations

import json

import pytest
import torch
import xgrammar
from transformers import LogitsProcessor

from planner_eval.catalog_io import from_openai_schemas
from planner_eval.cli import main as planner_eval_main
from planner_eval.parse import MAX_LINE_CHARS, parse_plan
from planner_eval.plan import END_OF_PLAN, Action, format_plan
from planner_eval.validate import plan_error
from tinyagent_ft import grammar
from tinyagent_ft.generation import generate_plans, generate_plans_with_stats
from tinyagent_ft.data.io import iter_rows
from tinyagent_ft.grammar import MAX_LINE_BYTES, closing_reserve, plan_grammars
from tinyagent_ft.models import TinyShape, build_tiny
from tinyagent_ft.prompts import PromptBuilder, PromptConfig
from test_generation import Prefer


def function(name: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": f"{name} for tests",
                                             "parameters": {"type": "object", "properties": properties, "required": required}}}


SCHEMAS = [
    function("get_forecast", {
        "city": {"type": "string"},
        "options": {"type": "object", "required": ["unit"], "properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
            "window": {"type": "object", "required": ["start"], "properties": {
                "start": {"type": "string"}, "hours": {"type": "array", "items": {"type": "integer"}}}},
            "detailed": {"type": "boolean"}}},
    }, ["city", "options"]),
    function("set_preferences", {"user": {"type": "string"}, "prefs": {"type": "object"}}, ["user"]),  # free-form
    function("book_room", {
        "request": {"type": "object", "properties": {  # every key optional
            "floor": {"type": "integer"}, "view": {"type": "string", "enum": ["sea", "city"]},
            "note": {"type": ["string", "null"]}}},
        "guests": {"type": "number"},
    }, ["request", "guests"]),
    function("log_event", {"event": {"type": "object", "properties": {  # long required keys: a long walk
        "what_happened_in_words": {"type": "string"}, "when_it_happened_exactly": {"type": "string"},
        "how_many_people_were_there": {"type": "integer"}, "was_anyone_hurt_at_all": {"type": "boolean"},
        "extra": {"type": "object"}},
        "required": ["what_happened_in_words", "when_it_happened_exactly", "how_many_people_were_there", "was_anyone_hurt_at_all"]}},
        ["event"]),
]
CATALOG = from_openai_schemas(SCHEMAS)
TOOLS = list(CATALOG)


def plan_text(*calls: tuple[str, list]) -> str:
    """A plan as planner_eval's writer spells it, so the grammar is held to the writer's spacing."""
    return format_plan([Action(i, tool, args) for i, (tool, args) in enumerate(calls, start=1)])


GOLD = [
    plan_text(("get_forecast", ["Oslo", {"unit": "celsius"}])),
    plan_text(("get_forecast", ["Oslo", {"unit": "fahrenheit", "days": 3, "detailed": True}])),
    plan_text(("get_forecast", ["Oslo", {"unit": "celsius", "window": {"start": "09:00", "hours": [1, 2]}}])),
    plan_text(("get_forecast", ["Oslo", {"unit": "celsius"}]),
              ("get_forecast", ["$1", {"unit": "$1", "days": "$1", "window": {"start": "$1", "hours": ["$1", 3]}}]),
              ("get_forecast", ["Rome", "$2"])),
    plan_text(("set_preferences", ["ann"]), ("set_preferences", ["ann", {}])),
    plan_text(("set_preferences", ["ann", {"theme": "dark", "size": 12, "ratio": 0.5, "beta": False, "x": None}]),
              ("set_preferences", ["bo", {"copy": "$1"}])),
    plan_text(("book_room", [{}, 2]), ("book_room", [{"view": "sea", "note": None}, 2.5]),
              ("book_room", [{"floor": 3}, "$1"])),
    plan_text(("book_room", [{"floor": 1, "note": "x"}, 1]), ("book_room", [{"floor": 3, "view": "city", "note": "n"}, 2])),
]


@pytest.fixture(scope="module")
def tiny():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is overhead-bound; more threads only contend on a shared CPU
    texts = GOLD + [tool.signature() for tool in CATALOG.values()] + ["what is the weather in Oslo"]
    yield build_tiny(texts, TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                      num_key_value_heads=1, vocab_size=500), seed=0)
    torch.set_num_threads(threads)


def accepts(tokenizer, plan: str, tools=TOOLS) -> bool:
    matcher = xgrammar.GrammarMatcher(plan_grammars(tokenizer, len(tokenizer)).get(tools, CATALOG).compiled)
    return matcher.accept_string(plan) and matcher.is_completed()


# --- the grammar ---------------------------------------------------------------------------------

@pytest.mark.parametrize("plan", GOLD)
def test_the_grammar_accepts_written_plans_with_objects(tiny, plan):
    parsed = parse_plan(plan, CATALOG)
    assert plan_error(parsed, CATALOG, check_args=True) == (None, None), plan  # the gold is really valid
    assert accepts(tiny[1], plan), plan


def forecast(options: str, action: int = 1) -> str:
    prefix = "".join(f'{i}. get_forecast("x", {{"unit": "celsius"}})\n' for i in range(1, action))
    return f'{prefix}{action}. get_forecast("Oslo", {options})\n{action + 1}. join(){END_OF_PLAN}'


@pytest.mark.parametrize("plan", [
    forecast('{"days": 3}'),  # the required key left out
    forecast("{}"),
    forecast('{"unit": "celsius", "hours": 3}'),  # a key outside the properties
    forecast('{"unit": "celsius", "unit": "celsius"}'),
    forecast('{"unit": "celsius", "days": "3"}'),  # a value of the wrong type
    forecast('{"unit": "kelvin"}'),  # outside the enum
    forecast('{"unit": "celsius", "window": {"hours": [1]}}'),  # a nested object's required key left out
    forecast('{"unit": "celsius", "window": {"start": "9", "hours": ["1"]}}'),
    forecast("{'unit': 'celsius'}"),  # single quotes
    forecast('{"unit":"celsius"}'),  # not the writer's spacing
    forecast('{"unit": "celsius",}'),
    forecast('{"days": 3, "unit": "celsius"}'),  # keys in the grammar's order: required ones first
    forecast('{"unit": "$1"}'),  # no earlier action
    forecast('{"unit": "celsius", "window": {"start": "$3"}}', action=2),  # not an earlier action
    '1. set_preferences("a", {"k": [1]})\n2. join()<END_OF_PLAN>',  # free-form values are scalars
    '1. set_preferences("a", {"k": {"j": 1}})\n2. join()<END_OF_PLAN>',
    '1. set_preferences("a", {"k": "v"})\n2. set_preferences("a", {"$1": 1})\n3. join()<END_OF_PLAN>',  # a key is no reference
    '1. set_preferences("a", {1: 1})\n2. join()<END_OF_PLAN>',
    '1. book_room({"view": "sea"})\n2. join()<END_OF_PLAN>',  # a required argument left out
    '1. book_room(None, 2)\n2. join()<END_OF_PLAN>',
    '1. book_room({"view": "sea", "floor": 3}, 2)\n2. join()<END_OF_PLAN>',  # optional keys in catalog order too
    '1. book_room({"floor": 3, "floor": 3}, 2)\n2. join()<END_OF_PLAN>',
])
def test_the_grammar_rejects_objects_outside_their_schema(tiny, plan):
    assert not accepts(tiny[1], plan), plan


def test_a_free_form_object_holds_at_most_list_items_keys(tiny):
    keys = lambda n: "{" + ", ".join(f'"k{i}": {i}' for i in range(n)) + "}"  # noqa: E731
    plan = '1. set_preferences("a", {})\n2. join()<END_OF_PLAN>'
    assert accepts(tiny[1], plan.replace("{}", keys(grammar.LIST_ITEMS)))
    assert not accepts(tiny[1], plan.replace("{}", keys(grammar.LIST_ITEMS + 1)))


def test_objects_nested_deeper_than_the_parser_reads_and_any_values_are_named():
    def nested(depth: int) -> dict:
        return {"type": "string"} if depth == 0 else {"type": "object", "properties": {"a": nested(depth - 1)}, "required": ["a"]}

    assert grammar.grammar_problem(from_openai_schemas([function("deep", {"x": nested(3)}, ["x"])])["deep"]) is None
    too_deep = from_openai_schemas([function("deep", {"x": nested(4)}, ["x"])])
    with pytest.raises(ValueError, match=r"tool 'deep', argument 'x': lists and objects nested more than 3 deep"):
        grammar.check_catalog_grammar(too_deep)
    untyped = from_openai_schemas([function("f", {"x": {"type": "object", "properties": {"y": {}}, "required": ["y"]}}, ["x"])])
    with pytest.raises(ValueError, match="tool 'f', argument 'x': type any has no plan grammar"):
        grammar.check_catalog_grammar(untyped)


# --- constrained generation from a random model ------------------------------------------------

def prompts(tokenizer, tool_sets, query="what is the weather in Oslo"):
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=1024), catalog=CATALOG)
    return [builder.inference_prompt(query, tools) for tools in tool_sets]


def assert_valid(plan: str, tools) -> None:
    parsed = parse_plan(plan, CATALOG)
    assert plan.endswith(END_OF_PLAN) and parsed.actions and not parsed.problems, plan
    assert plan_error(parsed, CATALOG, check_args=True) == (None, None), plan
    assert {a.tool for a in parsed.actions} <= set(tools), plan


@pytest.fixture(scope="module")
def sampled(tiny):
    model, tokenizer = tiny
    tool_sets = [TOOLS] * 16 + [["get_forecast"]] * 8 + [["book_room", "set_preferences"]] * 8 + [["log_event"]] * 4
    torch.manual_seed(0)
    plans = generate_plans(model, tokenizer, prompts(tokenizer, tool_sets), tools=tool_sets, catalog=CATALOG,
                           max_new_tokens=240, batch_size=16, generation_kwargs={"do_sample": True})
    return plans, tool_sets


def test_sampled_plans_over_an_object_catalog_parse_and_hold_its_types(sampled):
    plans, tool_sets = sampled
    for plan, tools in zip(plans, tool_sets):
        assert_valid(plan, tools)
    objects = [arg for plan in plans for action in parse_plan(plan, CATALOG).actions for arg in action.args
               if isinstance(arg, dict)]
    assert len(objects) >= 16 and any(len(value) >= 2 for value in objects)  # the model really writes objects


def test_the_evaluator_finds_sampled_plans_valid(sampled, tmp_path, capsys):
    plans, _ = sampled
    (tmp_path / "tools.json").write_text(json.dumps(SCHEMAS))
    lines = lambda texts: "".join(json.dumps({"id": i, "plan": t}) + "\n" for i, t in enumerate(texts))  # noqa: E731
    (tmp_path / "gold.jsonl").write_text(lines([GOLD[0]] * len(plans)))
    (tmp_path / "pred.jsonl").write_text(lines(plans))
    code = planner_eval_main(["score", "--gold", str(tmp_path / "gold.jsonl"), "--pred", str(tmp_path / "pred.jsonl"),
                              "--tools", str(tmp_path / "tools.json"), "--check-args", "--out", str(tmp_path / "r.json")])
    capsys.readouterr()
    assert code == 0
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["n"] == len(plans) and summary["valid_rate"] == 1.0, summary["errors"]


def test_plans_close_within_a_tight_budget_over_an_object_catalog(tiny):
    model, tokenizer = tiny
    budget = closing_reserve(TOOLS, CATALOG) + 4
    torch.manual_seed(1)
    plans, stats = generate_plans_with_stats(model, tokenizer, prompts(tokenizer, [TOOLS] * 8), tools=[TOOLS] * 8,
                                             catalog=CATALOG, max_new_tokens=budget, generation_kwargs={"do_sample": True})
    assert stats.forced_tokens > 0 and max(stats.tokens_per_plan) <= budget
    for plan in plans:
        assert_valid(plan, TOOLS)


@pytest.mark.parametrize("cut", [
    '1. get_forecast("Oslo", {',
    '1. get_forecast("Oslo", {"un',
    '1. get_forecast("Oslo", {"unit": "celsius", "window": {"start": "nine o\'clock and',
    '1. get_forecast("Oslo", {"unit": "celsius", "window": {"start": "9", "hours": [1, 2',
    '1. get_forecast("Oslo", {"unit": "celsius", "days": 3, "detailed": Tr',
    '1. book_room({',
    '1. book_room({"view": "se',
    '1. set_preferences("a", {"some key',
    '1. log_event({',
    '1. log_event({"what_happened_in_words": "a fire',
    '1. log_event({"what_happened_in_words": "a", "when_it_happened_exactly": "now", "how_many_people_were_there": 3, '
    '"was_anyone_hurt_at_all": False, "extra": {"k": Fa',
])
def test_the_walk_closes_a_plan_from_inside_an_object_within_the_reserve(tiny, cut):
    # The model would go on writing this line; the budget leaves the walk exactly the reserve from the cut.
    model, tokenizer = tiny
    wanted = tokenizer(cut + "x" * 400, add_special_tokens=False)["input_ids"]
    given = len(tokenizer(cut, add_special_tokens=False)["input_ids"])
    tool = cut[3:cut.index("(")]
    budget = given + closing_reserve([tool], CATALOG)
    plans, stats = generate_plans_with_stats(model, tokenizer, prompts(tokenizer, [[tool]]), tools=[[tool]], catalog=CATALOG,
                                             max_new_tokens=budget, generation_kwargs={"logits_processor": [Prefer(wanted)]})
    plan = plans[0]
    assert plan.startswith(cut[:cut.rindex("{") + 1]) and stats.forced_tokens > 0, plan
    assert stats.tokens_per_plan[0] <= budget
    assert_valid(plan, [tool])


def test_the_line_bound_leaves_room_for_the_walk_over_an_object_catalog():
    # As for the built-in tools (tests/test_generation.py): at most 5 bytes per forced token.
    assert MAX_LINE_BYTES + 5 * max(closing_reserve([tool], CATALOG) for tool in TOOLS) < MAX_LINE_CHARS


def test_reserves_grow_with_the_required_members_of_objects():
    small = from_openai_schemas([function("f", {"o": {"type": "object", "properties": {"a": {"type": "string"}}}}, ["o"])])
    bigger = from_openai_schemas([function("f", {"o": {"type": "object", "required": ["a", "bb"], "properties": {
        "a": {"type": "string"}, "bb": {"type": "object", "required": ["c"], "properties": {"c": {"type": "integer"}}}}}}, ["o"])])
    assert closing_reserve(["f"], bigger) > closing_reserve(["f"], small)



class LovesDollars(LogitsProcessor):
    """A model drawn to the text LLMCompiler's executor reads as a dependency: `$`, digits and `{`."""

    def __init__(self, tokenizer):
        texts = [tokenizer.decode([i]) for i in range(len(tokenizer))]
        self.bonus = torch.tensor([4.0 if any(c in "${0123456789" for c in t) else 0.0 for t in texts])

    def __call__(self, input_ids, scores):
        return scores + self.bonus[: scores.shape[1]]


def test_sampled_plans_mean_the_same_to_llmcompilers_executor(tiny):
    from test_planner_eval_llmcompiler import _as_data, executor_reading, planner_eval_reading

    model, tokenizer = tiny
    tool_sets = [TOOLS] * 32 + [["set_preferences", "get_forecast"]] * 32
    torch.manual_seed(0)
    plans = generate_plans(model, tokenizer, prompts(tokenizer, tool_sets), tools=tool_sets, catalog=CATALOG,
                           max_new_tokens=240, batch_size=16,
                           generation_kwargs={"do_sample": True, "logits_processor": [LovesDollars(tokenizer)]})
    readings = [(executor_reading(plan), planner_eval_reading(plan)) for plan in plans]
    for plan, (executor, ours) in zip(plans, readings):
        assert _as_data(executor) == _as_data(ours), plan
    assert all(ours for _, ours in readings)  # every plan has actions to compare
    assert sum(len(ours) > 1 for _, ours in readings) >= 8  # and enough of them with earlier actions to depend on


# --- training data ---------------------------------------------------------------------------------

def test_training_plans_are_loaded_with_object_keys_in_the_grammars_order(tiny, tmp_path):
    # A user's plan may write an object's keys in any order; the model trains on the order that
    # constrained decoding lets it write, and a plan already in that order is kept as written.
    shuffled = ('1. get_forecast("Oslo", {"window": {"hours": [1], "start": "9"}, "days": 3, "unit": "celsius"})\n'
                '2. book_room({"note": "n", "floor": 3}, 2)\n3. join()<END_OF_PLAN>')
    in_order = GOLD[1]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"query": "q", "plan": plan}) + "\n" for plan in (shuffled, in_order)))
    rows = list(iter_rows(path, catalog=CATALOG))
    assert not accepts(tiny[1], shuffled)
    assert rows[0]["plan"] == ('1. get_forecast("Oslo", {"unit": "celsius", "days": 3, "window": {"start": "9", "hours": [1]}})\n'
                               '2. book_room({"floor": 3, "note": "n"}, 2)\n3. join()<END_OF_PLAN>')
    assert accepts(tiny[1], rows[0]["plan"])
    assert parse_plan(rows[0]["plan"]).actions == parse_plan(shuffled).actions  # the same plan
    assert rows[1]["plan"] == in_order
