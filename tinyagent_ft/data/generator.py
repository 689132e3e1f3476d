"""Synthetic TinyAgent-format data, for running the whole pipeline without the real release.

Each split has its own random stream (seeded by seed and split name), so the three files are
deterministic for a seed. Validation and test draw half their queries from phrasing templates
that training never uses, and no test or validation query string occurs in training.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from planner_eval.catalog import JOIN, TOOLS, describe_tools
from planner_eval.plan import Action, format_plan
from tinyagent_ft.data.intents import INTENTS, Intent

SPLITS = ("train", "validation", "test")
HELD_OUT_SHARE_IN_EVAL = 0.5
_SLOT = re.compile(r"(\{\w+\})")
_MAX_TRIES = 50


def is_held_out(index: int, n_templates: int) -> bool:
    """Every fourth template counted from the last: a quarter (rounded up) of an intent's phrasings."""
    return (n_templates - 1 - index) % 4 == 0


def templates_for(intent: Intent, split: str, rng: random.Random) -> list[str]:
    n = len(intent.templates)
    held_out = [t for i, t in enumerate(intent.templates) if is_held_out(i, n)]
    seen = [t for i, t in enumerate(intent.templates) if not is_held_out(i, n)]
    if split == "train":
        return seen
    return held_out if rng.random() < HELD_OUT_SHARE_IN_EVAL else seen


# ---- surface noise: only the template's own words change, never the slot values -----------------


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap two letters
    if kind == 1:
        return word[:i] + word[i + 1 :]  # drop one
    return word[:i] + word[i] + word[i:]  # double one


def _noisy_text(text: str, rng: random.Random, lowercase: bool, typo_rate: float) -> str:
    words = text.split(" ")
    words = [_typo(w, rng) if rng.random() < typo_rate else w for w in words]
    text = " ".join(words)
    return text.lower() if lowercase else text


def phrase(template: str, slots: dict[str, str], rng: random.Random) -> str:
    lowercase = rng.random() < 0.2
    typo_rate = 0.08 if rng.random() < 0.25 else 0.0
    parts = [
        slots[part[1:-1]] if _SLOT.fullmatch(part) else _noisy_text(part, rng, lowercase, typo_rate)
        for part in _SLOT.split(template)
    ]
    query = "".join(parts).strip()
    if rng.random() < 0.15:
        query = rng.choice(("Please ", "Hey, ", "Could you ", "pls ")) + query[0].lower() + query[1:]
    if rng.random() < 0.15:
        query = query.rstrip(".?!")
    return query


def blank_unsaid(actions: list[Action], slots: dict[str, str], template: str) -> list[Action]:
    """Blank string arguments whose value comes from a slot the template does not mention."""
    unsaid = {value for name, value in slots.items() if "{" + name + "}" not in template}
    return [Action(a.id, a.tool, ["" if isinstance(v, str) and v in unsaid else v for v in a.args]) for a in actions]


# ---- records ---------------------------------------------------------------------------------


def plain_prompt(query: str, tools: list[str]) -> str:
    """A minimal planner prompt; training rebuilds the real one with decoys and retrieved examples."""
    lines = "\n".join(describe_tools(tools))
    return f"Plan the function calls that answer the question, using these tools:\n{lines}\n\nQuestion: {query}\n"


def parsed_calls(actions: list[Action]) -> list[dict[str, Any]]:
    calls = [{"tool_name": a.tool, "tool_args": dict(zip(TOOLS[a.tool].arg_names, a.args))} for a in actions]
    return calls + [{"tool_name": JOIN, "tool_args": {}}]


def make_record(query: str, actions: list[Action], rng: random.Random) -> dict[str, Any]:
    tools = list(dict.fromkeys(a.tool for a in actions))
    plan_text = format_plan(actions)
    observations = "\n".join(f"Observation {a.id}: done" for a in actions)
    return {
        "input": query,
        "output": [
            {
                "type": "plan",
                "raw_input": plain_prompt(query, tools),
                "raw_output": plan_text,
                "parsed_output": parsed_calls(actions),
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "index": 0,
            },
            {
                "type": "join",
                "raw_input": f"Question: {query}\n{plan_text}\n{observations}\n",
                "raw_output": "Thought: every action finished.\nAction: Finish(Task completed!)",
                "parsed_output": {"thought": "every action finished.", "action": "Finish", "message": "Task completed!"},
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "index": 1,
            },
        ],
    }


@dataclass(frozen=True)
class Drawn:
    """One generated example and where it came from, for breaking results down by intent and phrasing."""

    query: str
    actions: list[Action]
    intent: str
    held_out: bool  # phrased by a template that training never uses


def draw_example(split: str, rng: random.Random) -> Drawn:
    intent = rng.choice(INTENTS)
    slots, actions = intent.sample(rng)
    template = rng.choice(templates_for(intent, split, rng))
    held_out = is_held_out(intent.templates.index(template), len(intent.templates))
    return Drawn(phrase(template, slots, rng), blank_unsaid(actions, slots, template), intent.name, held_out)


def sample_example(split: str, rng: random.Random) -> tuple[str, list[Action]]:
    drawn = draw_example(split, rng)
    return drawn.query, drawn.actions


def _normalized(query: str) -> str:
    return " ".join(query.lower().split())


def generate_split(split: str, n: int, seed: int, forbidden: set[str] | frozenset[str] = frozenset()) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield `n` (record_id, record) pairs whose queries are unique and not in `forbidden` (normalized)."""
    rng = random.Random(f"{seed}:{split}")
    seen: set[str] = set()
    for index in range(n):
        for _ in range(_MAX_TRIES):
            query, actions = sample_example(split, rng)
            key = _normalized(query)
            if key not in seen and key not in forbidden:
                break
        else:
            raise RuntimeError(f"could not draw {n} distinct {split} queries; ask for fewer records")
        seen.add(key)
        yield f"{split}-{seed}-{index:06d}", make_record(query, actions, rng)


def generate_splits(
    n_train: int, n_val: int, n_test: int, seed: int, progress: bool = False
) -> dict[str, dict[str, dict[str, Any]]]:
    """All three splits as {split: {record_id: record}}; evaluation queries never repeat an earlier split's."""
    splits: dict[str, dict[str, dict[str, Any]]] = {}
    earlier: set[str] = set()
    for split, n in zip(SPLITS, (n_train, n_val, n_test)):
        records = generate_split(split, n, seed, frozenset(earlier))
        splits[split] = dict(tqdm(records, total=n, desc=split, unit="rec", disable=not progress))
        earlier |= {_normalized(r["input"]) for r in splits[split].values()}
    return splits

