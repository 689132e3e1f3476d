"""Whole training steps of the demo's recipe with torch AdamW, Natural GaLore, and Natural GaLore with
its weight gradients computed in the subspace (`--low-rank-backward`), side by side in one process.

Each setting has its own copy of the same initial model and its own optimizer, and runs every batch
once (forward, backward, gradient clipping at 1.0 as the Trainer does, optimizer step), the order of
the settings turning at each batch so that the machine's drift falls on all of them alike. The
batches are `tinyagent train`'s, as `label_logits.py` builds them. Steps that refresh GaLore's
subspace are included: the mean over whole refresh periods is what tokens/s sees.

    python benchmarks/training_step.py --data D/data --retriever D/retriever [--batches 150] [--no-bf16]
        [--attention sdpa|eager]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/retriever.py would shadow the package

from label_logits import WARMUP, demo_batches, forward_backward  # noqa: E402  (this folder, after the path fix above)

SETTINGS = ("adamw", "natural_galore", "natural_galore_low_rank_backward")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="TinyAgent-format data directory")
    parser.add_argument("--retriever", type=Path, required=True, help="retriever directory")
    parser.add_argument("--batches", type=int, default=150,
                        help="batches timed per setting after the warm-up (150: three refresh periods of 50)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=256, help="tiny model width")
    parser.add_argument("--layers", type=int, default=4, help="tiny model layers")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default: training's rule for this CPU)")
    parser.add_argument("--attention", choices=("sdpa", "eager"), default=None,
                        help="attention implementation (default: training's rule, eager for short bf16 sequences on a CPU)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


class Setting:
    """One optimizer on its own copy of the model, stepped as the Trainer steps it."""

    def __init__(self, name: str, model, config) -> None:
        import torch

        from tinyagent_ft.optim import make_optimizer_and_scheduler

        self.name, self.model = name, copy.deepcopy(model)
        if name == "adamw":
            self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.learning_rate(), weight_decay=0.0,
                                               fused=True)
        else:
            self.optimizer, _ = make_optimizer_and_scheduler(self.model, lr=config.learning_rate(),
                                                             num_training_steps=10_000, **config.galore_options())
        self.seconds: list[float] = []

    def patched(self) -> contextlib.AbstractContextManager:
        from tinyagent_ft.optim.low_rank_backward import low_rank_backward

        low_rank = self.name.endswith("low_rank_backward")
        return low_rank_backward(self.model, self.optimizer) if low_rank else contextlib.nullcontext()

    def step(self, batch: dict, bf16: bool) -> float:
        from tinyagent_ft.optim.low_rank_backward import clip_grad_norm_with

        start = time.perf_counter()
        forward_backward(self.model, batch, bf16)
        held = getattr(self.optimizer, "low_rank_gradients", list)()
        clip_grad_norm_with(self.model.parameters(), held, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start


def main(argv=None) -> None:
    args = parse_args(argv)
    from tinyagent_ft.train import TrainConfig
    from tinyagent_ft.train.collator import CompletionCollator

    model, tokenizer, batches, autocast_bf16 = demo_batches(args)
    attention = args.attention or ("eager" if autocast_bf16 else "sdpa")  # the demo's sequences are short
    model.set_attn_implementation(attention)
    collate = CompletionCollator(tokenizer.pad_token_id, 16 if autocast_bf16 else None, label_logits_only=True)
    settings = [Setting(name, model, TrainConfig(data=args.data, retriever=args.retriever, out=Path(tempfile.gettempdir()),
                                                 optimizer="adamw" if name == "adamw" else "natural_galore"))
                for name in SETTINGS]

    tokens = []
    with contextlib.ExitStack() as patches:
        for setting in settings:
            patches.enter_context(setting.patched())
        for i, features in enumerate(batches):
            batch = collate(features)
            turn = i % len(settings)
            for setting in settings[turn:] + settings[:turn]:
                took = setting.step(batch, autocast_bf16)
                if i >= WARMUP:
                    setting.seconds.append(took)
            if i >= WARMUP:
                tokens.append(int(batch["attention_mask"].sum()))
    base = settings[0].seconds
    result = {
        "bf16_autocast": autocast_bf16, "attention": attention, "threads": args.threads, "steps": len(base), "batch_size": args.batch_size,
        "model": f"{args.width} x {args.layers}", "mean_tokens_per_step": round(statistics.mean(tokens), 1),
    }
    for setting in settings:
        mean = statistics.mean(setting.seconds)
        result[setting.name] = {
            "mean_step_s": round(mean, 4), "median_step_s": round(statistics.median(setting.seconds), 4),
            "tokens_per_s": round(statistics.mean(tokens) / mean, 1),
            "tokens_per_s_vs_adamw": round(statistics.mean(base) / mean, 3),
            "paired_ratio_median_vs_adamw": round(statistics.median(s / b for s, b in zip(setting.seconds, base)), 3),
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
