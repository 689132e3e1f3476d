"""Retriever benchmark: tool recall/precision, prompt tokens saved, and batched throughput, as JSON.

    python benchmarks/retriever.py --retriever RDIR --data DATA_DIR [--handwritten tests/data/handwritten_queries.jsonl]
        [--batch-size 64] [--k 5] [--no-int8] [--out benchmarks/results/retriever.json]

Tool quality is measured on the generated test split and on hand-written queries phrased unlike
the generator. Tokens saved compare the tool section of the planner prompt with all 16 tool
descriptions against the one with only the predicted tools (counted with --tokenizer, default the
classifier's own). Throughput is classify + retrieve over test queries in batches, after a warm-up,
in float32 and again with int8 linear layers (quality is re-measured too, since int8 may change it).
Example fit: the share of the k retrieved examples whose tool set is the query's, and the
evaluator's success rate of the nearest example's plan.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner_eval.catalog import TOOL_NAMES, describe_tools  # noqa: E402
from planner_eval.score import score_plan  # noqa: E402
from retriever import Retriever, tool_set_metrics  # noqa: E402
from retriever.queryfile import read_queries  # noqa: E402
from tinyagent_ft.data import load_split  # noqa: E402

# Planner prompts show each tool's signature and description as these numbered lines.
TOOLS_HEADER = "Tools you can use:\n"


def tool_section(names: list[str]) -> str:
    return TOOLS_HEADER + "\n".join(describe_tools(names))


def token_savings(predicted: list[list[str]], tokenizer) -> dict[str, float]:
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    everything = count(tool_section(list(TOOL_NAMES)))
    # Catalog order, as the prompt builder lists them.
    selected = [count(tool_section([t for t in TOOL_NAMES if t in set(p)])) for p in predicted]
    mean_selected = statistics.fmean(selected)
    return {
        "all_tools_tokens": everything,
        "mean_selected_tools_tokens": mean_selected,
        "mean_tokens_saved": everything - mean_selected,
        "fraction_saved": (everything - mean_selected) / everything,
    }


def throughput(retriever: Retriever, queries: list[str], batch_size: int, k: int, rounds: int) -> dict[str, float]:
    """Queries per second for classify + retrieve, median over rounds; classification alone for reference."""
    retriever.retrieve(queries[:batch_size], k=k, batch_size=batch_size)  # warm-up: allocator, thread pool
    full, classify = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        retriever.retrieve(queries, k=k, batch_size=batch_size)
        full.append(len(queries) / (time.perf_counter() - started))
        started = time.perf_counter()
        retriever.predict_tools(queries, batch_size=batch_size)
        classify.append(len(queries) / (time.perf_counter() - started))
    return {
        "queries": len(queries),
        "batch_size": batch_size,
        "k": k,
        "rounds": rounds,
        "classify_and_retrieve_qps": statistics.median(full),
        "classify_and_retrieve_qps_all_rounds": full,
        "classify_only_qps": statistics.median(classify),
    }


def quality(retriever: Retriever, queries: list[str], gold: list[list[str]]) -> tuple[dict, list[list[str]]]:
    predicted = retriever.predict_tools(queries)
    report = tool_set_metrics(predicted, gold)
    report["misses"] = [
        {"query": q, "tools": g, "predicted": p} for q, g, p in zip(queries, gold, predicted) if not set(g) <= set(p)
    ]
    return report, predicted


def example_fit(retriever: Retriever, queries: list[str], gold_tools: list[list[str]], gold_plans: list[str], k: int) -> dict:
    """How well retrieved examples fit a query: the share of the k that use exactly its tools, and how
    often the nearest one's plan would already be a correct answer (arguments included)."""
    hits = retriever.retrieve(queries, k=k)
    same = [sum(set(e.tools) == set(g) for e in row) / max(1, len(row)) for row, g in zip(hits, gold_tools)]
    nearest = [bool(row) and score_plan(plan, row[0].plan).success for row, plan in zip(hits, gold_plans)]
    return {"k": k, "same_tool_set_at_k": statistics.fmean(same), "nearest_plan_success": statistics.fmean(nearest)}


def measure(retriever: Retriever, test, plans, hand, batch_size: int, k: int, rounds: int, speed_queries: int) -> dict:
    test_report, test_predicted = quality(retriever, *test)
    hand_report, _ = quality(retriever, *hand)
    return {
        "test_split": test_report,
        "handwritten": hand_report,
        "examples": example_fit(retriever, *test, plans, k),
        "throughput": throughput(retriever, test[0][:speed_queries], batch_size, k, rounds),
    }, test_predicted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retriever", "--index", dest="index", required=True, type=Path,
                        help="trained retriever directory (--index: the older name)")
    parser.add_argument("--data", required=True, type=Path, help="generated data directory (its test split is used)")
    parser.add_argument("--handwritten", type=Path, default=ROOT / "tests" / "data" / "handwritten_queries.jsonl")
    parser.add_argument("--tokenizer", default=None, help="tokenizer for counting prompt tokens (default: the classifier's)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--speed-queries", type=int, default=512, help="test queries timed per round")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8-quantized measurement")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here as well as to stdout")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    retriever = Retriever.load(args.index)
    split = load_split(args.data, "test")
    test = (list(split["query"]), [list(t) for t in split["tools"]])
    plans = list(split["plan"])
    hand = read_queries(args.handwritten)
    settings = (args.batch_size, args.k, args.rounds, args.speed_queries)
    fp32, test_predicted = measure(retriever, test, plans, hand, *settings)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer else retriever.classifier.tokenizer
    result = {
        "backbone": retriever.classifier.backbone,
        "embedder": retriever.index.embedder,
        "threshold": retriever.classifier.threshold,
        "index_examples": len(retriever.index),
        "prompt_tokens": {"tokenizer": args.tokenizer or "classifier's", **token_savings(test_predicted, tokenizer)},
        "fp32": fp32,
    }
    if not args.no_int8:
        problems = retriever.quantize_int8()
        result["int8"] = {"problems": problems} if problems else measure(retriever, test, plans, hand, *settings)[0]
    result["machine"] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": os.getloadavg()[0],  # other jobs on a shared machine lower the qps
        "platform": platform.platform(),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
