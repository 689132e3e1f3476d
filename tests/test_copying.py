"""Copied arguments: which slots the training data copies from the question, and decoding that holds
those slots to spans of the question."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from planner_eval.catalog import TOOLS
from planner_eval.parse import parse_plan
from planner_eval.plan import END_OF_PLAN
from planner_eval.validate import plan_error
from serve.engine import PlanJob, PlannerEngine, PlanRejected
from tinyagent_ft.checkpoint import load_planner, save_planner
from tinyagent_ft.copying import (checked_copied_arguments, copied_arguments, copy_reserve, is_span, plain_strings,
                                  question_text, string_values)
from tinyagent_ft.generation import generate_plans_with_stats
from tinyagent_ft.grammar import PlanLogitsProcessor, plan_grammars, plan_reserve
from tinyagent_ft.planner import Planner
from tinyagent_ft.prompts import PromptBuilder, PromptConfig
from tinyagent_ft.train.validation import PlanValidation
from question_fixtures import compact_prompts, grammar_accepts, query_and_plan, tiny_planner, training_records

QUESTION = 'Email the "audit findings.pdf" to Dana  Reyes; subject Q3 $40 budget, say can you check it?'
COPIED = {"get_email_address": ["name"], "open_and_get_file_path": ["file_name"], "compose_new_email": ["context"]}
TOOLS_USED = ["get_email_address", "open_and_get_file_path", "compose_new_email"]


@pytest.fixture(scope="module")
def records():
    return training_records(300)


@pytest.fixture(scope="module")
def tiny(records):
    return tiny_planner(records)


@pytest.mark.parametrize("value, expected", [
    ("Dana Reyes", True),  # the prompt's question has its whitespace collapsed
    ("audit findings.pdf", True),
    ("findings", True),
    ("check it?", True),  # a span may end on punctuation
    ('"audit', True),
    ("Rey", False),  # never inside a word
    ("udit findings", False),
    (" Dana", False),
    ("Dana Reyes ", False),
    ("", False),
    ("Dana Smith", False),
])
def test_spans_start_and_end_at_atom_boundaries(value, expected):
    assert is_span(value, question_text(QUESTION)) is expected


def test_a_barrier_character_is_never_inside_a_span():
    assert is_span("a b", "a b") and not is_span("a<b", "a<b") and is_span("b", "a<b")


def test_copied_arguments_are_learnt_from_the_training_plans(records):
    copied = copied_arguments(map(query_and_plan, records))
    assert copied["get_email_address"] == ["name"] and "file_name" in copied["open_and_get_file_path"]
    # Computed or written values are not copies: a start time, an email subject written from a summary.
    assert "start_time" not in copied.get("create_calendar_event", [])
    assert "subject" not in copied.get("compose_new_email", [])


def test_a_slot_seen_too_rarely_is_not_copied(records):
    few = [query_and_plan(r) for r in records if "get_phone_number" in query_and_plan(r)[1]][:5]
    assert "get_phone_number" not in copied_arguments(few)


def test_checked_copied_arguments_keep_the_catalogs_arguments_and_refuse_malformed_ones():
    assert checked_copied_arguments({"get_email_address": ["name", "nope"], "no_tool": ["x"]}, TOOLS) == \
        {"get_email_address": ["name"]}
    for bad in (["get_email_address"], {"get_email_address": "name"}, {"get_email_address": [1]}):
        with pytest.raises(ValueError, match="copied_arguments"):
            checked_copied_arguments(bad, TOOLS)


def accepts(tokenizer, plan: str, question: str = QUESTION, copied=COPIED) -> bool:
    return grammar_accepts(tokenizer, TOOLS_USED, plan, question, copied=copied)


def email_plan(name: str, context: str, file_name: str = "audit findings.pdf") -> str:
    return (f'1. get_email_address("{name}")\n2. open_and_get_file_path("{file_name}")\n'
            f'3. compose_new_email(["$1"], [], "Q3 budget", "{context}", ["$2"])\n4. join(){END_OF_PLAN}')


@pytest.mark.parametrize("plan", [
    email_plan("Dana Reyes", "can you check it?"),
    email_plan("Dana", "$2"),  # a reference still fills a copied slot
    email_plan("Dana", ""),
    email_plan("Dana", "\\\"audit findings.pdf\\\""),  # a quote of the question, escaped as planner_eval writes it
    email_plan("Dana", "Q3 \\u002440 budget"),  # `$` escaped
    email_plan("Reyes", "say", file_name="findings.pdf"),
])
def test_the_grammar_accepts_spans_of_the_question_in_copied_slots(tiny, plan):
    assert accepts(tiny[1], plan), plan


@pytest.mark.parametrize("plan", [
    email_plan("Dana Smith", "can you check it?"),  # a name the question does not hold
    email_plan("Rey", "can you check it?"),  # part of a word
    email_plan("Dana", "check it!"),
    email_plan("Dana", "can you check it?", file_name="user_manual.pdf"),
])
def test_the_grammar_refuses_other_strings_in_copied_slots(tiny, plan):
    model, tokenizer = tiny
    assert not accepts(tokenizer, plan), plan
    assert accepts(tokenizer, plan, copied=None)  # a slot that is not copied takes any string


def test_uncopied_slots_keep_any_string(tiny):
    # The email's subject is not a copied slot: a written subject passes.
    plan = email_plan("Dana", "").replace('"Q3 budget"', '"Budget review, written"')
    assert accepts(tiny[1], plan)


def prompts(tokenizer, questions: list[str]) -> list[str]:
    return compact_prompts(tokenizer, questions, TOOLS_USED)


def test_sampled_plans_write_only_spans_in_copied_slots(tiny):
    model, tokenizer = tiny
    questions = [QUESTION, "forward the budget to Sid and Nick Hale", "mail Ana the notes.txt: running late"] * 8
    torch.manual_seed(0)
    plans, stats = generate_plans_with_stats(
        model, tokenizer, prompts(tokenizer, questions), tools=[TOOLS_USED] * len(questions), max_new_tokens=160,
        generation_kwargs={"do_sample": True}, questions=questions, copied=COPIED,
    )
    copied_values = 0
    for plan, question in zip(plans, questions):
        parsed = parse_plan(plan)
        assert plan.endswith(END_OF_PLAN) and plan_error(parsed) == (None, None), plan
        for (tool, arg), text in string_values(plan, TOOLS):
            if arg in COPIED.get(tool, ()):
                copied_values += 1
                assert is_span(text, question_text(question)), (text, plan)
    assert copied_values >= 10  # the sampled plans really wrote copied slots


def test_a_copied_plan_closes_within_its_reserve(tiny):
    model, tokenizer = tiny
    question = "email Bartholomew-Featherstonehaugh about supercalifragilistic plans"
    budget = plan_reserve(TOOLS_USED, None, COPIED, question) + 4
    assert budget > plan_reserve(TOOLS_USED) and copy_reserve(question_text(question)) > len("Featherstonehaugh")
    torch.manual_seed(2)
    plans, stats = generate_plans_with_stats(
        model, tokenizer, prompts(tokenizer, [question] * 8), tools=[TOOLS_USED] * 8, max_new_tokens=budget,
        generation_kwargs={"do_sample": True}, questions=[question] * 8, copied=COPIED,
    )
    assert max(stats.tokens_per_plan) <= budget
    for plan in plans:
        assert plan.endswith(END_OF_PLAN) and plan_error(parse_plan(plan)) == (None, None), plan
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_plans_with_stats(model, tokenizer, prompts(tokenizer, [question]), tools=[TOOLS_USED],
                                  max_new_tokens=plan_reserve(TOOLS_USED), questions=[question], copied=COPIED)


def test_copied_arguments_need_the_questions(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="questions"):
        generate_plans_with_stats(model, tokenizer, prompts(tokenizer, [QUESTION]), tools=[TOOLS_USED], copied=COPIED)


def test_a_checkpoint_keeps_its_copied_arguments(tiny, tmp_path):
    model, tokenizer = tiny
    save_planner(tmp_path / "p", model, tokenizer, PromptConfig(style="compact"), copied_arguments=COPIED)
    assert load_planner(tmp_path / "p").copied_arguments == COPIED
    save_planner(tmp_path / "old", model, tokenizer, PromptConfig(style="compact"))
    assert load_planner(tmp_path / "old").copied_arguments == {}


def test_validation_plans_with_the_planners_budget_which_holds_a_copied_plans_closing(tiny):
    short = '1. get_email_address("Dana")\n2. join()<END_OF_PLAN>'
    rows = Dataset.from_dict({"query": [QUESTION], "plan": [short]})
    config = PromptConfig(style="names", max_new_tokens=300)
    validation = PlanValidation(rows, PromptBuilder(tiny[1], config), None, copied_arguments=COPIED)
    assert validation.max_new_tokens == 300 > plan_reserve(list(TOOLS), None, COPIED, QUESTION)


def served_strings(engine, questions: list[str], budget: int = 200) -> list[tuple[str, str]]:
    """(question, string) for every plain string the served plans put in compose_new_email's recipients."""
    outcomes = engine.plan_batch([PlanJob(q, budget, tools=("compose_new_email",)) for q in questions])
    found = []
    for question, outcome in zip(questions, outcomes):
        for action in parse_plan(outcome.plan).actions:
            found += [(question, text) for text in plain_strings(action.args[0])]
    return found


def test_the_server_holds_copied_slots_to_spans_of_the_query(tiny):
    model, tokenizer = tiny
    questions = [QUESTION, "mail Ana the notes.txt: running late", "send Sid Hale the budget"]
    # The random model fills the recipients list with strings of its own when the slot is free.
    free = PlannerEngine(Planner(model, tokenizer, PromptConfig(style="compact")), "tiny")
    assert any(not is_span(text, question_text(q)) for q, text in served_strings(free, questions))
    copied = {"compose_new_email": ["recipients"]}
    engine = PlannerEngine(Planner(model, tokenizer, PromptConfig(style="compact"), copied_arguments=copied), "tiny")
    strings = served_strings(engine, questions)
    assert strings and all(is_span(text, question_text(q)) for q, text in strings)
    # A budget enough for the free grammar is refused when a span must be finished too.
    low = plan_reserve(["compose_new_email"])
    [refused] = engine.plan_batch([PlanJob(QUESTION, low, tools=("compose_new_email",))])
    assert isinstance(refused, PlanRejected) and str(plan_reserve(["compose_new_email"], None, copied, QUESTION)) in str(refused)


def mask_after(tokenizer, grammar, text: str) -> tuple[torch.Tensor, list[bytes]]:
    """Which tokens the plan processor allows after the plan prefix ``text``."""
    grammars = plan_grammars(tokenizer, len(tokenizer))
    processor = PlanLogitsProcessor(grammars, [grammar], 200)
    ids = torch.zeros(1, 1, dtype=torch.long)  # a one-token prompt
    scores = processor(ids, torch.zeros(1, len(tokenizer)))
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        scores = processor(ids, torch.zeros(1, len(tokenizer)))
    return torch.isfinite(scores[0]), grammars.pieces


def test_a_one_argument_call_never_repeats_an_earlier_call(tiny):
    tokenizer = tiny[1]
    question = "text Dana, Daniel Hale and Sid"
    grammar = plan_grammars(tokenizer, len(tokenizer)).get(["get_phone_number", "create_note"], None,
                                                           {"get_phone_number": ["name"]}, question)
    allowed, pieces = mask_after(tokenizer, grammar, '1. get_phone_number("Dana")\n2. get_phone_number("')
    starts = [pieces[t] for t in range(len(pieces)) if allowed[t]]
    assert not any(b'Dana")'.startswith(p) for p in starts if p)  # neither "Dana" nor a piece of it
    assert any(p.startswith(b"Dan") and p != b"Dan" for p in starts) or b"Dan" not in pieces  # "Daniel" stays
    assert any(p.startswith(b"S") for p in starts)
    # The same line in the first action, or a two-argument tool, keeps every span.
    allowed, _ = mask_after(tokenizer, grammar, '1. get_phone_number("')
    assert any(allowed[t] and b'Dana")'.startswith(pieces[t]) for t in range(len(pieces)) if pieces[t])
    allowed, _ = mask_after(tokenizer, grammar, '1. create_note("Dana", "", "")\n2. create_note("')
    assert any(allowed[t] and pieces[t].startswith(b"D") for t in range(len(pieces)))


def test_a_repeat_is_kept_when_nothing_else_is_left(tiny):
    tokenizer = tiny[1]
    grammar = plan_grammars(tokenizer, len(tokenizer)).get(["get_phone_number"], None, {"get_phone_number": ["name"]},
                                                           "Dana")
    allowed, pieces = mask_after(tokenizer, grammar, '1. get_phone_number("Dana")\n2. get_phone_number("')
    # The empty string is left, so the earlier name goes; the row is never left without a token.
    assert allowed.any() and not any(allowed[t] and pieces[t].startswith(b"D") for t in range(len(pieces)))
