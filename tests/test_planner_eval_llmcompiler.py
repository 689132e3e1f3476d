"""Plans mean the same to LLMCompiler's executor as to planner_eval.

`executor_reading` re-implements, in this file's own code, the rules of LLMCompiler's plan parser
as read in SqueezeAILab/LLMCompiler, `src/llm_compiler/output_parser.py` (commit 1e34a9e):
- actions are every match of `(?:Thought: ([^\\n]*)\\n)?\\n*(\\d+)\\. (\\w+)\\((.*)\\)(\\s*#\\w+\\n)?` over
  the whole text (unanchored; `.` stops only at "\\n"), and reading stops after `join`;
- an action's arguments are `ast.literal_eval` of the text between the parentheses, that text
  itself when it does not evaluate, () when empty; a result that is not a list or tuple is
  wrapped in a 1-tuple, so a lone list argument is spread into positional arguments;
- its dependencies are the ids 1 <= i < N for which `\\$\\{?(\\d+)\\}?` finds i anywhere in that
  text (join depends on every earlier id).
TinyAgent's executor uses the same rules.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

from planner_eval.parse import parse_plan
from planner_eval.plan import Action, format_plan, references
from planner_eval.score import score_plan
from planner_eval.tool_calls import tool_calls_to_plan_text
from test_planner_eval_roundtrip import plans

ROOT = Path(__file__).parent.parent
_STEP = re.compile(r"(?:Thought: ([^\n]*)\n)?\n*(\d+)\. (\w+)\((.*)\)(\s*#\w+\n)?")
_DEPENDENCY = re.compile(r"\$\{?(\d+)\}?")


def _executor_arguments(text: str) -> tuple:
    if text == "":
        return ()
    try:
        value = ast.literal_eval(text)
    except Exception:  # the executor keeps the raw text of anything it cannot evaluate
        value = text
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def executor_reading(text: str) -> list[tuple[int, str, tuple, list[int], str]]:
    """(id, tool, arguments, dependencies, thought) of each action the executor would run."""
    steps = []
    for thought, number, tool, arguments, _ in _STEP.findall(text):
        if tool == "join":
            break
        named = {int(n) for n in _DEPENDENCY.findall(arguments)}
        step_id = int(number)
        steps.append((step_id, tool, _executor_arguments(arguments), [i for i in range(1, step_id) if i in named], thought))
    return steps


def planner_eval_reading(text: str, spread_lone_list: bool = True) -> list[tuple[int, str, tuple, list[int], str]]:
    """The same view of planner_eval's parse; `spread_lone_list` applies the executor's quirk."""
    steps = []
    for action in parse_plan(text, layout="llmcompiler").actions:
        args = action.args
        if spread_lone_list and len(args) == 1 and isinstance(args[0], list):
            args = args[0]
        dependencies = sorted({r for r in references(action.args) if r < action.id})
        steps.append((action.id, action.tool, tuple(args), dependencies, action.thought or ""))
    return steps


def _as_data(steps: list) -> str:
    """A form in which 1, 1.0 and True differ, so that agreement is exact."""
    return json.dumps(steps, default=repr, sort_keys=True) + repr([[type(a).__name__ for a in s[2]] for s in steps])


@settings(max_examples=300, deadline=None)
@given(plans())
def test_format_plan_means_the_same_to_the_executor(actions):
    for thoughts in (True, False):
        written = actions if thoughts else [Action(a.id, a.tool, a.args) for a in actions]
        text = format_plan(written)
        assert not parse_plan(text, layout="llmcompiler").problems
        assert _as_data(executor_reading(text)) == _as_data(planner_eval_reading(text))


@settings(max_examples=200, deadline=None)
@given(plans())
def test_tool_calls_written_as_plans_mean_the_same_to_the_executor(actions):
    calls = [{"function": {"name": a.tool, "arguments": json.dumps({f"a{i}": v for i, v in enumerate(a.args)})}}
             for a in actions]
    text = tool_calls_to_plan_text(calls)
    assert _as_data(executor_reading(text)) == _as_data(planner_eval_reading(text))


def test_the_lone_list_quirk():
    text = '1. get_phone_number("a")\n2. send_sms(["$1", "5551234"])\n3. join()'
    assert executor_reading(text)[1][2] == ("$1", "5551234")  # spread into two arguments
    assert parse_plan(text).actions[1].args == [["$1", "5551234"]]  # one list argument
    assert executor_reading(text)[1][3] == [1]  # the dependency survives


GOLD = '1. get_email_address("Sid")\n2. get_email_address("Nick")\n3. create_note("notes", "$2", "")\n4. join()'
# Plans the lenient layout reads one way and the executor another (or not at all).
DIFFERENT = {
    "no space after the dot": GOLD.replace("3. create_note", "3.create_note"),
    "space before the dot": GOLD.replace("3. create_note", "3 . create_note"),
    "space before the parenthesis": GOLD.replace("create_note(", "create_note ("),
    "unnumbered join, then an action": GOLD.replace("4. join()", 'join()\n5. get_email_address("Kai")'),
    "an action inside prose": 'Here is my plan. 1. get_email_address("Sid")\n' + GOLD,
    "$2 coffee": GOLD.replace('"notes"', '"$2 coffee"').replace('"$2", ""', '"x", ""'),
    "I owe you $2": GOLD.replace('"notes"', '"I owe you $2"').replace('"$2", ""', '"x", ""'),
    "' $1 '": GOLD.replace('"notes"', '" $1 "').replace('"$2", ""', '"x", ""'),
    "${2}": GOLD.replace('"notes"', '"${2}"').replace('"$2", ""', '"x", ""'),
    "a carriage return alone": GOLD.replace("\n3.", "\r3."),
}


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_the_executor_layout_fails_what_the_executor_reads_differently(name):
    text = DIFFERENT[name]
    assert _as_data(executor_reading(text)) != _as_data(planner_eval_reading(text))
    lenient = score_plan(GOLD, text)
    assert lenient.error is None  # the default layout is unchanged: all of these are valid plans today
    strict = score_plan(GOLD, text, layout="llmcompiler")
    assert (strict.success, strict.error) == (False, "parse") and "layout:" in strict.detail


def test_extra_actions_the_executor_would_run():
    assert [s[0] for s in executor_reading(DIFFERENT["unnumbered join, then an action"])] == [1, 2, 3, 5]
    assert [s[0] for s in executor_reading(DIFFERENT["an action inside prose"])] == [1, 1, 2, 3]


def test_a_thought_that_mentions_an_action_is_fine_right_before_an_action():
    text = GOLD.replace("3. create_note", "Thought: next, 9. get_email_address(x)\n3. create_note")
    assert score_plan(GOLD, text, layout="llmcompiler").success
    assert executor_reading(text)[2][4] == "next, 9. get_email_address(x)"
    blank = text.replace("\n3. create_note", "\n\n3. create_note")  # the executor skips blank lines here
    assert score_plan(GOLD, blank, layout="llmcompiler").success and executor_reading(blank) == executor_reading(text)
    apart = text.replace("\n3. create_note", "\n\n   3. create_note")  # but not indentation: 9. would run
    assert score_plan(GOLD, apart, layout="llmcompiler").error == "parse"
    assert [s[0] for s in executor_reading(apart)] == [1, 2, 9, 3]


def test_layout_on_the_command_line(tmp_path):
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold.write_text(json.dumps({"id": "a", "plan": GOLD}) + "\n" + json.dumps({"id": "b", "plan": GOLD}) + "\n")
    pred.write_text(json.dumps({"id": "a", "plan": GOLD}) + "\n" + json.dumps({"id": "b", "plan": DIFFERENT["no space after the dot"]}) + "\n")
    runs = {}
    for layout in ("lenient", "llmcompiler"):
        done = subprocess.run([sys.executable, "-m", "planner_eval", "score", "--gold", str(gold), "--pred", str(pred), "--layout", layout],
                              capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        runs[layout] = json.loads(done.stdout)
    assert runs["lenient"]["summary"]["success_rate"] == 1.0 and runs["lenient"]["summary"]["layout"] == "lenient"
    assert [r["error"] for r in runs["llmcompiler"]["results"]] == [None, "parse"]
