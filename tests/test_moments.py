"""Derived arguments: the dates, times and durations a question says, the slots whose training values
derive from them, and decoding that holds those slots to the values the question allows."""

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
from tinyagent_ft.data import load_split
from tinyagent_ft.generation import generate_plans_with_stats
from tinyagent_ft.grammar import plan_reserve
from tinyagent_ft.moments import (checked_derived_arguments, derived_arguments, question_clocks, question_dates,
                                  question_minutes, stamp_kinds, stamp_suffixes)
from tinyagent_ft.planner import Planner
from tinyagent_ft.prompts import PromptBuilder, PromptConfig
from tinyagent_ft.train import TrainConfig, train
from tinyagent_ft.train.validation import PlanValidation
from question_fixtures import compact_prompts, grammar_accepts, query_and_plan, tiny_planner, training_records
from train_fixtures import TEST_SHAPE, write_data, write_retriever

DERIVED = {"create_calendar_event": {"start_date": ["at"], "end_date": ["after"]},
           "get_zoom_meeting_link": {"start_time": ["at"], "duration": ["minutes"]},
           "create_reminder": {"due_date": ["at", "midnight"]}}
EVENT = "create_calendar_event"
QUESTION = "put Book club on my calendar Mar 11th at 2:30 p.m. for an hour and a half"


@pytest.mark.parametrize("question, dates", [
    ("on March 5 at 3pm", [(3, 5)]),
    ("Mar 11th, 11:15", [(3, 11)]),
    ("the 16th of August", [(8, 16)]),
    ("23 June at noon", [(6, 23)]),
    ("Sept 2", [(9, 2)]),
    ("on 2026-10-02", [(10, 2)]),
    ("on 7/12", [(7, 12), (12, 7)]),  # month first, and day first where that is a date too
    ("on 2/30", []),  # no such date either way
    ("in March 2026 we grow", []),
    ("a zoom for 15 people", []),
])
def test_dates_said_in_a_question(question, dates):
    assert question_dates(question) == dates


@pytest.mark.parametrize("question, clocks", [
    ("at 3pm", [(15, 0)]),
    ("at 3:30 p.m.", [(15, 30)]),
    ("12 p.m. or 12am", [(12, 0), (0, 0)]),
    ("at 8:15AM", [(8, 15)]),
    ("at 19:00, not 7:05 pm", [(19, 0), (19, 5)]),
    ("at noon", [(12, 0)]),
    ("I am at 5", []),
])
def test_times_of_day_said_in_a_question(question, clocks):
    assert question_clocks(question) == clocks


@pytest.mark.parametrize("question, minutes", [
    ("for 30 mins", [30]),
    ("an hour and a half", [90]),  # not also "an hour"
    ("1.5 hours", [90]),
    ("half an hour", [30]),
    ("one hour long", [60]),
    ("a 120 minutes zoom", [120]),
    ("2 hours, then 45 min", [120, 45]),
    ("for 10000 hours", []),  # over MAX_MINUTES
])
def test_durations_said_in_a_question(question, minutes):
    assert question_minutes(question) == minutes


def test_stamps_allowed_per_kind():
    assert stamp_suffixes(QUESTION, ("at",)) == ["03-11 14:30:00"]
    assert stamp_suffixes(QUESTION, ("after",)) == ["03-11 16:00:00"]
    assert stamp_suffixes(QUESTION, ("midnight",)) == ["03-11 00:00:00"]
    assert stamp_suffixes("Dec 31 at 11:30pm for 1 hour", ("after",)) == ["01-01 00:30:00"]  # the next day
    assert stamp_kinds("2026-03-11 14:30:00", QUESTION) == {"at"}
    assert stamp_kinds("2027-03-11 16:00:00", QUESTION) == {"after"}  # the year is the model's
    assert stamp_kinds("2026-03-12 14:30:00", QUESTION) == set() == stamp_kinds("Mar 11", QUESTION)


@pytest.fixture(scope="module")
def records():
    return training_records(400)


def test_derived_arguments_are_learnt_from_the_training_plans(records):
    # The kinds are the fewest that cover the values: an event ends a duration after it starts, a
    # reminder is due at a time said or, all day, at midnight; a priority is never a duration.
    assert derived_arguments(map(query_and_plan, records)) == DERIVED


def test_a_slot_whose_values_are_not_derived_is_not_learnt(records):
    pairs = [query_and_plan(r) for r in records if EVENT in query_and_plan(r)[1]]
    queries, plans = zip(*pairs)
    assert EVENT not in derived_arguments(zip(queries[1:] + queries[:1], plans))  # each plan another's question
    assert EVENT not in derived_arguments(pairs[:5])  # too few values


def test_checked_derived_arguments_keep_the_catalogs_arguments_and_refuse_malformed_ones():
    assert checked_derived_arguments({EVENT: {"start_date": ["at"], "nope": ["at"]}, "no_tool": {"x": ["at"]}},
                                     TOOLS) == {EVENT: {"start_date": ["at"]}}
    for bad in ([EVENT], {EVENT: ["start_date"]}, {EVENT: {"start_date": "at"}}, {EVENT: {"start_date": []}}):
        with pytest.raises(ValueError, match="derived_arguments must map"):
            checked_derived_arguments(bad, TOOLS)
    with pytest.raises(ValueError, match="cannot take"):  # a string slot takes stamps, not minutes
        checked_derived_arguments({EVENT: {"start_date": ["minutes"]}}, TOOLS)


@pytest.fixture(scope="module")
def tiny(records):
    return tiny_planner(records)


def accepts(tokenizer, plan: str, question: str = QUESTION, derived=DERIVED) -> bool:
    return grammar_accepts(tokenizer, [EVENT, "get_zoom_meeting_link"], plan, question, derived=derived)


def event_plan(start: str, end: str, minutes: str = "90") -> str:
    return (f'1. get_zoom_meeting_link("Book club", "{start}", {minutes}, [])\n'
            f'2. {EVENT}("Book club", "{start}", "{end}", "", [], "$1", None)\n3. join(){END_OF_PLAN}')


@pytest.mark.parametrize("plan", [
    event_plan("2026-03-11 14:30:00", "2026-03-11 16:00:00"),
    event_plan("2025-03-11 14:30:00", "2026-03-11 16:00:00"),  # any year
    event_plan("", ""),  # as a copied slot, an empty string
])
def test_the_grammar_accepts_the_dates_and_durations_the_question_says(tiny, plan):
    assert accepts(tiny[1], plan), plan


@pytest.mark.parametrize("plan", [
    event_plan("2026-03-12 14:30:00", "2026-03-11 16:00:00"),  # a day not said
    event_plan("2026-03-11 14:00:00", "2026-03-11 16:00:00"),  # a time not said
    event_plan("2026-03-11 14:30:00", "2026-03-11 14:30:00"),  # the end is never the start
    event_plan("2026-03-11 16:00:00", "2026-03-11 16:00:00"),  # nor the start the end
    event_plan("2026-03-11 14:30:00", "2026-03-11 16:00:00", minutes="60"),  # a duration not said
])
def test_the_grammar_refuses_other_dates_and_durations(tiny, plan):
    tokenizer = tiny[1]
    assert not accepts(tokenizer, plan), plan
    assert accepts(tokenizer, plan, derived=None)  # the same slots free take them


def test_a_question_that_says_no_date_leaves_the_slot_free(tiny):
    plan = event_plan("2026-05-01 09:00:00", "2026-05-01 10:00:00")
    assert accepts(tiny[1], plan, question="put Book club on my calendar tomorrow for an hour and a half")
    assert not accepts(tiny[1], plan.replace(", 90,", ", 60,"), question="Book club tomorrow for 90 min")


def prompts(tokenizer, questions: list[str], tools: list[str]) -> list[str]:
    return compact_prompts(tokenizer, questions, tools)


def test_sampled_plans_write_only_allowed_values_in_derived_slots(tiny):
    model, tokenizer = tiny
    tools = [EVENT, "get_zoom_meeting_link", "create_reminder"]
    questions = [QUESTION, "remind me to pay rent on 7/12 at 9am", "zoom on the 2nd of May, 19:00, 45 min"] * 12
    torch.manual_seed(0)
    plans, stats = generate_plans_with_stats(
        model, tokenizer, prompts(tokenizer, questions, tools), tools=[tools] * len(questions),
        max_new_tokens=plan_reserve(tools, None, None, QUESTION, DERIVED) + 40,
        generation_kwargs={"do_sample": True}, questions=questions, derived=DERIVED)
    checked = 0
    for plan, question in zip(plans, questions):
        assert plan.endswith(END_OF_PLAN) and plan_error(parse_plan(plan)) == (None, None), plan
        for action in parse_plan(plan).actions:
            for arg, value in zip(TOOLS[action.tool].args, action.args):
                kinds = DERIVED.get(action.tool, {}).get(arg.name)
                if kinds == ["minutes"] and isinstance(value, int) and question_minutes(question):
                    checked += 1
                    assert value in question_minutes(question), plan
                elif kinds and isinstance(value, str) and value and not value.startswith("$"):
                    checked += 1
                    assert stamp_kinds(value, question) & set(kinds), (value, plan)
    assert checked >= 10  # the sampled plans really wrote derived slots


def test_a_derived_plan_closes_within_its_reserve(tiny):
    model, tokenizer = tiny
    tools = [EVENT]
    budget = plan_reserve(tools, None, None, QUESTION, DERIVED)
    assert budget > plan_reserve(tools)
    torch.manual_seed(1)
    plans, stats = generate_plans_with_stats(
        model, tokenizer, prompts(tokenizer, [QUESTION] * 8, tools), tools=[tools] * 8, max_new_tokens=budget,
        generation_kwargs={"do_sample": True}, questions=[QUESTION] * 8, derived=DERIVED)
    assert max(stats.tokens_per_plan) <= budget
    for plan in plans:
        assert plan.endswith(END_OF_PLAN) and plan_error(parse_plan(plan)) == (None, None), plan


def test_a_checkpoint_keeps_its_derived_arguments(tiny, tmp_path):
    model, tokenizer = tiny
    save_planner(tmp_path / "p", model, tokenizer, PromptConfig(style="compact"), derived_arguments=DERIVED)
    assert load_planner(tmp_path / "p").derived_arguments == DERIVED
    save_planner(tmp_path / "old", model, tokenizer, PromptConfig(style="compact"))
    assert load_planner(tmp_path / "old").derived_arguments == {}


def test_validation_plans_with_the_planners_budget_which_holds_a_stamps_closing(tiny):
    short = '1. get_email_address("Dana")\n2. join()<END_OF_PLAN>'
    rows = Dataset.from_dict({"query": [QUESTION], "plan": [short]})
    validation = PlanValidation(rows, PromptBuilder(tiny[1], PromptConfig(style="names", max_new_tokens=300)), None,
                                derived_arguments=DERIVED)
    assert validation.max_new_tokens == 300 > plan_reserve(list(TOOLS), None, None, QUESTION, DERIVED)


def test_the_server_holds_derived_slots_and_refuses_a_budget_that_cannot_finish_a_stamp(tiny):
    model, tokenizer = tiny
    engine = PlannerEngine(Planner(model, tokenizer, PromptConfig(style="compact"), derived_arguments=DERIVED), "tiny")
    [outcome] = engine.plan_batch([PlanJob(QUESTION, 200, tools=(EVENT,))])
    stamps = [value for action in parse_plan(outcome.plan).actions for value in action.args[1:3]
              if isinstance(value, str) and value]
    assert all(stamp_kinds(value, QUESTION) for value in stamps)
    [refused] = engine.plan_batch([PlanJob(QUESTION, plan_reserve([EVENT]), tools=(EVENT,))])
    needed = plan_reserve([EVENT], None, None, QUESTION, DERIVED)
    assert isinstance(refused, PlanRejected) and str(needed) in str(refused)


def test_a_trained_planner_keeps_the_derived_arguments_of_its_training_split(tmp_path):
    data = write_data(tmp_path / "data", train=500)
    retriever = write_retriever(data, tmp_path / "retriever")
    train(TrainConfig(data=data, retriever=retriever, out=tmp_path / "p", batch_size=4, max_steps=1, eval_samples=0,
                      tiny_shape=TEST_SHAPE, extra={"disable_tqdm": True}))
    rows = load_split(data, "train")
    derived = load_planner(tmp_path / "p").derived_arguments
    assert derived == derived_arguments(zip(rows["query"], rows["plan"]))
    assert derived["create_calendar_event"] == {"start_date": ["at"], "end_date": ["after"]}
