"""`tinyagent retriever train|eval|query`: wires the dataset splits into the retriever package."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinyagent_ft.cli_options import deprecated_alias
from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog

DEFAULT_K = 5


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "retriever",
        help="train, evaluate or query the tool classifier and example index (ToolRAG)",
        description="Tool classifier (multi-label, one output per catalog tool) plus an in-context example index.",
    )
    commands = parser.add_subparsers(dest="retriever_command", required=True, metavar="SUBCOMMAND")
    _register_train(commands)
    _register_eval(commands)
    _register_query(commands)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _register_train(commands) -> None:
    from retriever.backbones import DEFAULT_CLASSIFIER_BACKBONE, DEFAULT_EMBEDDER

    train = commands.add_parser(
        "train",
        help="fine-tune the tool classifier and build the example index",
        description="Fine-tune the tool classifier on the training split (validated every epoch) and index the "
        "training records as in-context examples.",
    )
    train.add_argument("--data", required=True, type=Path, help="directory with training_data.json and validation_data.json")
    train.add_argument("--out", required=True, type=Path, help="directory to write the retriever to")
    train.add_argument(
        "--backbone",
        default=None,
        help=f"classifier encoder: hub name or local directory (default {DEFAULT_CLASSIFIER_BACKBONE} when it can be "
        "had offline, else the packaged all-MiniLM-L6-v2)",
    )
    train.add_argument(
        "--embedder", default=DEFAULT_EMBEDDER,
        help="sentence-transformers model for the example index, or 'classifier' to reuse the classifier's encoder "
        "(one encoder pass per query: about twice the throughput)",
    )
    train.add_argument("--epochs", type=_positive_int, default=3, help="passes over the training split")
    batch = train.add_argument("--classifier-batch-size", type=_positive_int, default=32,
                               help="queries per classifier training step")
    deprecated_alias(train, "--batch-size", batch)
    train.add_argument("--lr", type=float, default=1e-4, help="encoder learning rate")
    train.add_argument("--head-lr", type=float, default=5e-3, help="learning rate of the new classification head")
    train.add_argument("--word-dropout", type=float, default=0.1, help="chance of dropping each word of a training query")
    train.add_argument("--max-train", type=_positive_int, default=None, help="use at most N training records (seeded sample)")
    train.add_argument("--min-precision", type=float, default=0.8, help="precision floor when tuning the threshold")
    train.add_argument("--seed", type=int, default=0, help="seed of the head's weights, data order and word dropout")
    add_tools_option(train)
    train.set_defaults(handler=run_train)


def _register_eval(commands) -> None:
    evaluate = commands.add_parser(
        "eval",
        help="score tool selection on labelled queries",
        description='Score tool selection on a JSONL file of {"query", "tools"} lines.',
    )
    evaluate.add_argument("--retriever", "--index", dest="retriever", required=True, type=Path,
                          help="retriever directory (tinyagent retriever train; --index is the same flag)")
    evaluate.add_argument("--queries", required=True, type=Path, help='JSONL, one {"query": str, "tools": [str]} per line')
    evaluate.add_argument("--out", required=True, type=Path, help="JSON report to write")
    evaluate.set_defaults(handler=run_eval)


def _register_query(commands) -> None:
    query = commands.add_parser(
        "query",
        help="predict tools and retrieve examples for one query",
        description="Print JSON {tools, examples} for one query.",
    )
    query.add_argument("--retriever", "--index", dest="retriever", required=True, type=Path,
                       help="retriever directory (tinyagent retriever train; --index is the same flag)")
    query.add_argument("-k", type=_positive_int, default=DEFAULT_K, help="number of examples")
    query.add_argument("text", help="the user query")
    query.set_defaults(handler=run_query)


def run_train(args: argparse.Namespace) -> int:
    from retriever import train_retriever

    catalog = command_catalog(args.tools)
    retriever = train_retriever(
        args.data, args.out, backbone=args.backbone, embedder=args.embedder, epochs=args.epochs,
        batch_size=args.classifier_batch_size, lr=args.lr, head_lr=args.head_lr, word_dropout=args.word_dropout,
        min_precision=args.min_precision, max_train=args.max_train, seed=args.seed, catalog=catalog,
    )
    print(
        f"saved retriever to {args.out} (threshold {retriever.classifier.threshold:.2f}, "
        f"{len(retriever.index)} examples, {retriever.info['train_seconds']} s)"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from planner_eval.catalog_io import stored_catalog
    from retriever import Retriever, tool_set_metrics
    from retriever.queryfile import read_queries

    # The query file is checked against the stored catalog before any model loads: a bad line costs no wait.
    queries, gold = read_queries(args.queries, stored_catalog(args.retriever))
    retriever = Retriever.load(args.retriever)
    predicted = retriever.predict_tools(queries)
    report = tool_set_metrics(predicted, gold)
    report["backbone"] = retriever.classifier.backbone.get("name", "unknown")
    report["threshold"] = retriever.classifier.threshold
    report["results"] = [
        {"query": q, "tools": g, "predicted": p, "missing": [t for t in g if t not in p]}
        for q, g, p in zip(queries, gold, predicted)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(
        f"n={report['n']} tool_recall={report['tool_recall']:.4f} tool_precision={report['tool_precision']:.4f} "
        f"exact_set_accuracy={report['exact_set_accuracy']:.4f} -> {args.out}"
    )
    return 0


def run_query(args: argparse.Namespace) -> int:
    from retriever import Retriever

    if not args.text.strip():
        raise ValueError("the query text is empty")
    answer = Retriever.load(args.retriever).query(args.text, args.k)
    json.dump(answer, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
