"""Scoring against the Berkeley Function Calling Leaderboard's own files (`score --questions`).

BFCL (ShishirPatil/gorilla, `berkeley-function-call-leaderboard`) keeps a category's questions in
`BFCL_v3_<category>.json` and its answers in `possible_answer/BFCL_v3_<category>.json`, both JSON
Lines despite the name: a question line is `{"id", "question", "function": [function docs]}`, an
answer line `{"id", "ground_truth": [{name: {param: [acceptable values]}}, ...]}`, where `""` among
the values means the parameter may be left out, an object parameter's acceptable value is itself
`{key: [acceptable values]}`, and a list of objects is matched element by element.

Each entry is scored under its own catalog (its `function` list). A prediction (plan text or
tool calls, with BFCL's ids) succeeds when it is valid under that catalog and its calls pair off
one to one with the gold calls, in any order, each argument matching one acceptable value: the
categories a plan can express (simple, multiple, parallel, parallel_multiple) have no
dependencies, so a prediction with one does not match.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from planner_eval.catalog import Catalog, Tool, ToolArg
from planner_eval.catalog_io import CatalogError, CatalogWarning, catalog_from_json
from planner_eval.match import value_key, check_args_mode
from planner_eval.metrics import labelled_edges, partial_credit
from planner_eval.parse import ParsedPlan, parse_plan
from planner_eval.plan import Action, references
from planner_eval.report import read_plans, summarize
from planner_eval.score import PlanScore, check_layout
from planner_eval.validate import GOLD_INVALID, MISSING, plan_error

Warn = Callable[[str], None]
OPTIONAL = ""  # BFCL's mark, among a parameter's acceptable values, for "may be left out"


class BFCLError(ValueError):
    """A BFCL file that cannot be used; the message is one line naming the file and line."""


# A gold call: the tool's plan name and {parameter: acceptable values}.
GoldCall = tuple[str, dict[str, list[Any]]]


def read_jsonl(path: str | Path, required: str) -> dict[str, dict[str, Any]]:
    """{id: entry} of a BFCL file; every entry must be an object with an "id" and `required`.
    A JSON array of such objects is read too. Raises BFCLError or OSError."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BFCLError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            lines = [(1, entry) for entry in json.loads(stripped)]
        except (ValueError, RecursionError) as exc:
            raise BFCLError(f"{path}: not JSON: {getattr(exc, 'msg', exc)}") from None
    else:
        lines = [(number, _json_line(path, number, line)) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    entries: dict[str, dict[str, Any]] = {}
    for number, entry in lines:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise BFCLError(f"{path}:{number}: not an object with a string \"id\"")
        if not isinstance(entry.get(required), list):
            raise BFCLError(f"{path}:{number}: entry {entry['id']!r} has no {required!r} list")
        entries[entry["id"]] = entry
    if not entries:
        raise BFCLError(f"{path}: no entries")
    return entries


def _json_line(path: str | Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise BFCLError(f"{path}:{number}: not JSON ({getattr(exc, 'msg', exc.__class__.__name__)}); truncated?") from None


def entry_catalogs(questions: Mapping[str, Mapping[str, Any]], source: str) -> dict[str, Catalog]:
    """Each question's catalog; wrongly typed defaults and enum values are dropped with one warning
    for the whole file rather than one per entry (BFCL repeats its function docs)."""
    catalogs: dict[str, Catalog] = {}
    seen: dict[str, Catalog] = {}
    dropped = 0
    for entry_id, entry in questions.items():
        key = json.dumps(entry["function"], sort_keys=True)
        if key not in seen:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CatalogWarning)
                try:
                    seen[key] = catalog_from_json(entry["function"])
                except CatalogError as exc:
                    raise BFCLError(f"{source}: entry {entry_id!r}: {exc}") from None
            dropped += sum(1 for w in caught if issubclass(w.category, CatalogWarning))
        catalogs[entry_id] = seen[key]
    if dropped:
        warnings.warn(f"{source}: {dropped} default or enum value(s) of the wrong type dropped", CatalogWarning, stacklevel=2)
    return catalogs


def gold_calls(ground_truth: Sequence[Any], catalog: Catalog) -> list[GoldCall] | str:
    """The gold calls of an answer entry, or why they cannot be scored."""
    by_call_name = {tool.call_name: tool for tool in catalog.values()}
    calls: list[GoldCall] = []
    for number, call in enumerate(ground_truth, start=1):
        if not (isinstance(call, dict) and len(call) == 1):
            return f"call {number} is not one {{name: arguments}} object"
        (name, params), = call.items()
        tool = by_call_name.get(name) or catalog.get(name)
        if tool is None:
            return f"call {number}: {name!r} is not among the entry's functions"
        if not isinstance(params, dict) or not all(isinstance(v, list) for v in params.values()):
            return f"call {number}: arguments are not {{name: [acceptable values]}}"
        unknown = next((p for p in params if p not in tool.arg_names), None)
        if unknown is not None:
            return f"call {number}: {tool.call_name} has no parameter {unknown!r}"
        calls.append((tool.name, params))
    return calls


def score_entry(
    ground_truth: Sequence[Any],
    catalog: Catalog,
    pred: str | ParsedPlan | None,
    args_mode: str = "normalized",
    layout: str = "lenient",
) -> PlanScore:
    """One BFCL entry: `pred` (plan text, parsed tool calls, or None when missing) against its
    possible answers, under the entry's catalog; argument checks are on unless arguments are ignored."""
    gold = gold_calls(ground_truth, catalog)
    if isinstance(gold, str):
        return PlanScore(False, False, GOLD_INVALID, f"gold answer: {gold}")
    gold_tools = [name for name, _ in gold]
    if pred is None:
        return PlanScore(False, False, MISSING, "no prediction for this id", 0.0, 0.0, 0.0, 0.0, len(gold))
    plan = parse_plan(pred, layout=layout) if isinstance(pred, str) else pred
    error, detail = plan_error(plan, catalog, check_args=args_mode != "ignore")
    pred_tools = [a.tool for a in plan.actions]
    success = error is None and _calls_match(gold, plan.actions, catalog, args_mode)
    credit = partial_credit(gold_tools, pred_tools, [], labelled_edges(plan.actions))
    return PlanScore(success, set(pred_tools) == set(gold_tools), error, detail, credit.tool_precision,
                     credit.tool_recall, credit.tool_f1, credit.edge_f1, credit.length_error)


def _calls_match(gold: list[GoldCall], actions: list[Action], catalog: Catalog, mode: str) -> bool:
    """A one-to-one pairing of gold calls and actions in which every pair matches (augmenting
    paths, so an early greedy choice never hides a pairing that exists)."""
    if len(gold) != len(actions) or any(references(a.args) for a in actions):
        return False
    fits = [[j for j, action in enumerate(actions) if _call_matches(call, action, catalog[action.tool], mode)]
            for call in gold]
    partner: dict[int, int] = {}  # action position -> gold position

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j not in seen:
                seen.add(j)
                if j not in partner or place(partner[j], seen):
                    partner[j] = i
                    return True
        return False

    return all(place(i, set()) for i in range(len(gold)))


def _call_matches(call: GoldCall, action: Action, tool: Tool, mode: str) -> bool:
    name, params = call
    if action.tool != name:
        return False
    given = dict(zip(tool.args, action.args))
    return all(_argument_matches(arg, arg in given, given.get(arg), params.get(arg.name), mode) for arg in tool.args)


def _argument_matches(arg: ToolArg, present: bool, value: Any, acceptable: list[Any] | None, mode: str) -> bool:
    may_omit = acceptable is None or OPTIONAL in acceptable
    # None in an optional slot without a default marks an argument left out before a later one.
    omitted = not present or (value is None and not arg.required and not arg.has_default)
    if omitted or (arg.has_default and _equal(value, arg.default, "strict")):
        if may_omit:
            return True
        if omitted:
            return False
    if mode == "ignore":
        return True
    return acceptable is not None and any(_accepts(option, value, mode) for option in acceptable)


def _accepts(option: Any, value: Any, mode: str) -> bool:
    """Whether `value` matches one acceptable value: an object against BFCL's `{key: [values]}`,
    a list of objects element by element, anything else by equality."""
    if isinstance(option, dict) and isinstance(value, dict) and all(isinstance(v, list) for v in option.values()):
        if any(key not in option for key in value):
            return False
        return all(
            (OPTIONAL in options) if key not in value else any(_accepts(o, value[key], mode) for o in options)
            for key, options in option.items()
        )
    if (isinstance(option, list) and isinstance(value, list) and option and len(option) == len(value)
            and all(isinstance(o, dict) for o in option)):
        return all(_accepts(o, v, mode) for o, v in zip(option, value))
    return _equal(option, value, mode)


def _equal(a: Any, b: Any, mode: str) -> bool:
    """Type-aware equality in the given mode (strings normalized, lists as multisets, ...), where
    an integer and a float of the same value are equal: BFCL accepts an int for a float, and a
    float where an integer is due has already failed the argument check."""
    return value_key(_floats(a), mode, _same) == value_key(_floats(b), mode, _same)


def _floats(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_floats(item) for item in value]
    if isinstance(value, dict):
        return {key: _floats(item) for key, item in value.items()}
    return value


def _same(ref: int) -> int:
    return ref


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def score_bfcl_files(
    answers_path: str | Path,
    questions_path: str | Path,
    pred_path: str | Path,
    args_mode: str = "normalized",
    warn: Warn | None = None,
    layout: str = "lenient",
) -> dict:
    """The report dict for a BFCL category: one result per answer id, in file order. Raises
    BFCLError for an unusable BFCL file, OSError for an unreadable one."""
    check_args_mode(args_mode)
    check_layout(layout)
    answers = read_jsonl(answers_path, "ground_truth")
    questions = read_jsonl(questions_path, "function")
    unasked = next((entry_id for entry_id in answers if entry_id not in questions), None)
    if unasked is not None:
        raise BFCLError(f"{questions_path}: no question with the answer's id {unasked!r}")
    catalogs = entry_catalogs({entry_id: questions[entry_id] for entry_id in answers}, str(questions_path))
    preds, pred_skipped = read_plans(pred_path, warn or _stderr, catalogs=catalogs)
    results = []
    for entry_id, answer in answers.items():
        score = score_entry(answer["ground_truth"], catalogs[entry_id], preds.get(entry_id), args_mode, layout)
        results.append({"id": entry_id, **score.as_dict()})
    summary = summarize(results)
    summary.update(
        args_mode=args_mode,
        catalog="bfcl",
        check_args=args_mode != "ignore",
        layout=layout,
        extra=sum(1 for entry_id in preds if entry_id not in answers),
        skipped_lines={"gold": 0, "pred": pred_skipped},
    )
    return {"summary": summary, "results": results}
