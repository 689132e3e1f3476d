"""Evaluator throughput, end to end: `python -m planner_eval score` on a realistic prediction mix.

Gold plans come from a TinyAgent-format file (--gold; the first "plan" step of each record) or are
synthesized from the tool catalog with a seeded RNG. Predictions are derived from each gold plan:
identical, renumbered and reordered (with harmless spacing and case changes), wrong arguments,
swapped references, and invalid ones (unknown tool, bad reference, prose, truncated). The timed
run is a fresh process, so interpreter start-up is included.

    python benchmarks/evaluator_speed.py [--n 20000] [--seed 0] [--gold testing_data.json]
                                         [--tools CATALOG.json] [--tool-calls]

With --tools the scorer reads that catalog and checks arguments (`score --tools`); export the
built-in one with `python -m planner_eval tools --export --out tools.json` to compare like with
like. With --tool-calls every prediction that can be written as OpenAI-style tool calls is (the
others stay plan text), as an OpenAI-compatible planner would answer.

Prints one JSON object: pairs_per_s (wall clock, start-up included), n, tools, tool_calls, wall_s,
cpu_s and pairs_per_cpu_s (the scorer's own CPU time, which neighbours on a shared machine do not inflate),
the mix, and the report's success rate and error counts.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from planner_eval.catalog import TOOL_NAMES
from planner_eval.parse import parse_plan
from planner_eval.plan import Action, format_plan, references
from planner_eval.tinyagent_format import load_tinyagent_json, tinyagent_plans
from planner_eval.tool_calls import actions_to_tool_calls

NAMES = ["Sid", "Nick", "Lutfi", "Amir", "Kurt", "Sehoon", "Ryan", "Gopala", "Nora", "Ines"]
FILES = ["budget.pdf", "Q3 report.pdf", "slides.key", "paper draft.pdf", "invoice 42.pdf"]
PLACES = ["Berkeley", "SFO", "Golden Gate Park", "Cory Hall", "the office"]
TOPICS = ["project sync", "budget review", "paper deadline", "lunch", "design review"]


def _date(rng: random.Random) -> str:
    return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 18):02d}:00:00"


def _add(actions: list[Action], tool: str, *args: object) -> str:
    actions.append(Action(len(actions) + 1, tool, list(args)))
    return f"${len(actions)}"


def _emails(rng: random.Random, actions: list[Action], k: int) -> list[str]:
    return [_add(actions, "get_email_address", name) for name in rng.sample(NAMES, k)]


def _email_task(rng: random.Random, actions: list[Action]) -> None:
    to, cc = _emails(rng, actions, rng.randint(1, 2)), _emails(rng, actions, rng.randint(0, 2))
    files = [_add(actions, "open_and_get_file_path", rng.choice(FILES))] if rng.random() < 0.4 else []
    topic = rng.choice(TOPICS)
    _add(actions, "compose_new_email", to, cc, topic.title(), f"Write about the {topic}", files)


def _sms_task(rng: random.Random, actions: list[Action]) -> None:
    phones = [_add(actions, "get_phone_number", name) for name in rng.sample(NAMES, rng.randint(1, 3))]
    _add(actions, "send_sms", phones, f"Running late for the {rng.choice(TOPICS)}")


def _meeting_task(rng: random.Random, actions: list[Action]) -> None:
    invitees = _emails(rng, actions, rng.randint(1, 3))
    topic, start = rng.choice(TOPICS), _date(rng)
    link = _add(actions, "get_zoom_meeting_link", topic, start, rng.choice([30, 45, 60]), invitees)
    _add(actions, "create_calendar_event", topic, start, _date(rng), "", invitees, link, None)


def _pdf_task(rng: random.Random, actions: list[Action]) -> None:
    path = _add(actions, "open_and_get_file_path", rng.choice(FILES))
    summary = _add(actions, "summarize_pdf", path)
    _add(actions, "create_note", "Summary", summary, "")


def _errand_task(rng: random.Random, actions: list[Action]) -> None:
    if rng.random() < 0.5:
        _add(actions, "maps_show_directions", "", rng.choice(PLACES), rng.choice("dwr"))
    _add(actions, "create_reminder", f"Go to {rng.choice(PLACES)}", _date(rng), "", "", rng.choice([0, 1, 5, 9]), rng.random() < 0.3)


TASKS = [_email_task, _sms_task, _meeting_task, _pdf_task, _errand_task]


def synthesize_plan(rng: random.Random) -> list[Action]:
    actions: list[Action] = []
    for task in rng.sample(TASKS, rng.randint(1, 2)):
        task(rng, actions)
    return actions


def gold_from_file(path: Path) -> list[str]:
    data = load_tinyagent_json(path)
    if data is None:
        return []
    # Records without a plan step are not gold plans; the benchmark just leaves them out.
    plans, _ = tinyagent_plans(data, warn=lambda _message: None, source=str(path))
    return list(plans.values())


def _renumbered(rng: random.Random, actions: list[Action]) -> list[Action]:
    """A random topological order with fresh ids and cosmetic string changes."""
    placed: list[Action] = []
    waiting = list(actions)
    while waiting:
        ready = [a for a in waiting if all(any(p.id == r for p in placed) for r in references(a.args))]
        pick = rng.choice(ready)
        waiting.remove(pick)
        placed.append(pick)
    new_id = {a.id: i for i, a in enumerate(placed, start=1)}

    def remap(value: object) -> object:
        if isinstance(value, list):
            return [remap(v) for v in value]
        if isinstance(value, str):
            refs = references([value])
            return f"${new_id[refs[0]]}" if refs else f" {value.upper()} "
        return value

    return [Action(new_id[a.id], a.tool, [remap(v) for v in a.args]) for a in placed]


def _wrong_argument(rng: random.Random, actions: list[Action]) -> list[Action]:
    out = [Action(a.id, a.tool, list(a.args)) for a in actions]
    target = rng.choice(out)
    plain = [i for i, v in enumerate(target.args) if isinstance(v, str) and not references([v])]
    if plain:
        target.args[rng.choice(plain)] = "something else"
    else:
        target.tool = rng.choice([t for t in TOOL_NAMES if t != target.tool])
    return out


def _swapped_references(rng: random.Random, actions: list[Action]) -> list[Action]:
    out = [Action(a.id, a.tool, list(a.args)) for a in actions]
    for action in out:
        lists = [i for i, v in enumerate(action.args) if isinstance(v, list) and references(v)]
        if len(lists) >= 2:
            i, j = lists[0], lists[1]
            action.args[i], action.args[j] = action.args[j], action.args[i]
            return out
    return out[:-1]  # nothing to swap: drop the last action instead


def make_prediction(rng: random.Random, gold_text: str) -> tuple[str, str]:
    actions = parse_plan(gold_text).actions
    kind = rng.choices(
        ["identical", "renumbered", "wrong_args", "swapped_refs", "unknown_tool", "bad_reference", "prose", "truncated"],
        weights=[30, 20, 15, 10, 7, 6, 6, 6],
    )[0]
    if kind == "identical":
        return kind, gold_text
    if kind == "prose":
        return kind, "I am sorry, I cannot help with that request."
    if kind == "truncated":
        return kind, gold_text[: rng.randint(1, max(1, len(gold_text) - 1))]
    if not actions:
        return "identical", gold_text
    if kind == "renumbered":
        return kind, format_plan(_renumbered(rng, actions))
    if kind == "wrong_args":
        return kind, format_plan(_wrong_argument(rng, actions))
    if kind == "swapped_refs":
        return kind, format_plan(_swapped_references(rng, actions))
    broken = [Action(a.id, a.tool, list(a.args)) for a in actions]
    if kind == "unknown_tool":
        broken[-1].tool = "send_telegram"
    else:
        broken[-1].args.append(f"${broken[-1].id + 5}")
    return kind, format_plan(broken)


def prediction_record(record_id: str, text: str, tool_calls: bool) -> dict:
    """The prediction line; as tool calls when asked for and the plan can be written as such."""
    plan = parse_plan(text)
    if tool_calls and not plan.problems and not plan.empty:
        try:
            return {"id": record_id, "tool_calls": actions_to_tool_calls(plan.actions)}
        except ValueError:
            pass  # an unknown tool or too many arguments: no tool call can say that
    return {"id": record_id, "plan": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of gold/prediction pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gold", type=Path, help="TinyAgent-format JSON file to take gold plans from")
    parser.add_argument("--tools", type=Path, help="catalog for `score --tools` (argument checks on)")
    parser.add_argument("--tool-calls", action="store_true", help="write predictions as OpenAI-style tool calls where possible")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.gold:
        pool = gold_from_file(args.gold)
        if not pool:
            parser.error(f"{args.gold} holds no plan steps")
        golds = [pool[i % len(pool)] for i in range(args.n)]
    else:
        golds = [format_plan(synthesize_plan(rng)) for _ in range(args.n)]
    mix: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        gold_path, pred_path, out_path = Path(tmp, "gold.jsonl"), Path(tmp, "pred.jsonl"), Path(tmp, "report.json")
        with open(gold_path, "w") as gold_file, open(pred_path, "w") as pred_file:
            for i, gold_text in enumerate(golds):
                kind, pred_text = make_prediction(rng, gold_text)
                mix[kind] += 1
                gold_file.write(json.dumps({"id": str(i), "plan": gold_text}) + "\n")
                pred_file.write(json.dumps(prediction_record(str(i), pred_text, args.tool_calls)) + "\n")
        command = [sys.executable, "-m", "planner_eval", "score", "--gold", str(gold_path), "--pred", str(pred_path), "--out", str(out_path)]
        if args.tools:
            command += ["--tools", str(args.tools)]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start
        # CPU time too: on a shared machine the wall clock also measures the neighbours.
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        summary = json.loads(out_path.read_text())["summary"]
    print(json.dumps({
        "pairs_per_s": round(args.n / wall, 1),
        "n": args.n,
        "tools": str(args.tools) if args.tools else "builtin",
        "tool_calls": args.tool_calls,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "pairs_per_cpu_s": round(args.n / cpu, 1),
        "mix": dict(sorted(mix.items())),
        "success_rate": summary["success_rate"],
        "errors": {k: v for k, v in summary["errors"].items() if v},
    }))


if __name__ == "__main__":
    main()
