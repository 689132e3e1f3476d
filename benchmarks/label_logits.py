"""Training steps with logits at every position against logits at the labelled positions only
(`CompletionCollator(label_logits_only=True)`, what `tinyagent train` uses), side by side in one
process on the same batches.

Builds `tinyagent train`'s training set for the data and retriever given, with the demo's recipe
(the 256 x 4 tiny model, `names` prompts, batches of 16 grouped by length), then runs each batch's
forward and backward pass once per setting, alternating which goes first. bf16 autocast and the
padding to 16 tokens follow training's own rule for this CPU unless `--no-bf16`. Prints one JSON
object: median seconds per step for each setting, the median of the per-batch ratios, and the share
of positions whose next token is a label.

    python benchmarks/label_logits.py --data D/data --retriever D/retriever [--batches 60] [--no-bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/retriever.py would shadow the package

WARMUP = 5  # batches whose first runs build kernels, left out of the medians


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="TinyAgent-format data directory")
    parser.add_argument("--retriever", type=Path, required=True, help="retriever directory")
    parser.add_argument("--batches", type=int, default=60, help="batches timed per setting, after the warm-up")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=256, help="tiny model width")
    parser.add_argument("--layers", type=int, default=4, help="tiny model layers")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default: training's rule for this CPU)")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def training_batches(args: argparse.Namespace, settings, out: Path):
    """(model, the training set's first batches as the Trainer's length-grouped sampler orders them)."""
    from retriever import Retriever
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from tinyagent_ft.models import TinyShape
    from tinyagent_ft.prompts import PromptBuilder
    from tinyagent_ft.train import TrainConfig, build_training_set, training_pairs
    from tinyagent_ft.data.source import split_rows
    from tinyagent_ft.train.run import make_model, training_catalog

    config = TrainConfig(data=args.data, retriever=args.retriever, out=out, prompt_style="names",
                         batch_size=args.batch_size, tiny_shape=TinyShape.scaled(args.width, args.layers))
    catalog = training_catalog(config)
    rows = split_rows(config.data, "train", catalog)
    prompt_config = config.prompt_config()
    model, tokenizer = make_model(config, rows, prompt_config, None, settings, catalog)
    needed = (args.batches + WARMUP) * args.batch_size
    pairs, _ = training_pairs(rows.select(range(min(len(rows), 4 * needed))), PromptBuilder(tokenizer, prompt_config, catalog),
                              Retriever.load(config.retriever), config.seed)
    train_set = build_training_set(pairs, tokenizer)
    order = list(LengthGroupedSampler(args.batch_size, dataset=train_set, lengths=train_set["length"]))[:needed]
    features = [train_set[i] for i in order]
    return model, tokenizer, [features[i:i + args.batch_size] for i in range(0, len(features), args.batch_size)]


def demo_batches(args: argparse.Namespace):
    """(model, tokenizer, batches, whether to autocast to bf16) for ``args``, with torch's threads and
    seed set: the setup every benchmark of the demo's training step shares."""
    import torch

    from tinyagent_ft.train.device_defaults import precision

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    autocast_bf16 = precision("tiny", "cpu", args.bf16)[1]
    with tempfile.TemporaryDirectory() as out:
        model, tokenizer, batches = training_batches(args, argparse.Namespace(weights_dtype="float32"), Path(out))
    return model, tokenizer, batches, autocast_bf16


def forward_backward(model, batch: dict, bf16: bool) -> None:
    """One forward pass (under bf16 autocast where ``bf16``) and its backward pass."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
        loss = model(**batch).loss
    loss.backward()


def step_seconds(model, batch: dict, bf16: bool) -> float:
    start = time.perf_counter()
    forward_backward(model, batch, bf16)
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main(argv=None) -> None:
    args = parse_args(argv)
    from tinyagent_ft.train.collator import CompletionCollator

    model, tokenizer, batches, autocast_bf16 = demo_batches(args)
    multiple = 16 if autocast_bf16 else None
    collators = {"every_logit": CompletionCollator(tokenizer.pad_token_id, multiple),
                 "labelled_only": CompletionCollator(tokenizer.pad_token_id, multiple, label_logits_only=True)}

    seconds: dict[str, list[float]] = {name: [] for name in collators}
    labelled = positions = 0
    for i, features in enumerate(batches):
        names = list(collators) if i % 2 == 0 else list(reversed(collators))
        for name in names:
            took = step_seconds(model, collators[name](features), autocast_bf16)
            if i >= WARMUP:
                seconds[name].append(took)
        batch = collators["labelled_only"](features)
        labelled += int((batch["shift_labels"] != -100).sum())
        positions += batch["input_ids"].numel()
    every, only = seconds["every_logit"], seconds["labelled_only"]
    print(json.dumps({
        "bf16_autocast": autocast_bf16, "threads": args.threads, "batches": len(every), "batch_size": args.batch_size,
        "model": f"{args.width} x {args.layers}", "vocab_size": len(tokenizer),
        "labelled_share_of_positions": round(labelled / positions, 3),
        "every_logit_median_s": round(statistics.median(every), 4),
        "labelled_only_median_s": round(statistics.median(only), 4),
        "paired_ratio_median": round(statistics.median(o / e for o, e in zip(only, every)), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
