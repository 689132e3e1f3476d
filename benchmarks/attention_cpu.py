"""Eager attention against torch's SDPA for one forward and backward pass of a Llama on this CPU, at a
few batch shapes of equal token count: the measurement behind `tinyagent train`'s choice of eager
attention for short bf16 sequences on a CPU (`device_defaults.EAGER_ATTENTION_MEDIAN_LENGTH`).

Random weights and tokens; one row of each batch half padding, as batches grouped by length have.
Each shape runs both implementations twice in turns and keeps each one's best median. Prints JSON.

    python benchmarks/attention_cpu.py [--shape tiny|smollm2] [--no-bf16] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/retriever.py would shadow the package

from label_logits import step_seconds  # noqa: E402  (this folder, after the path fix above)

SHAPES = {
    "tiny": dict(vocab_size=3000, hidden_size=256, intermediate_size=704, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=4),  # the demo's 256 x 4
    "smollm2": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True),  # SmolLM2-135M
}
BATCHES = {"tiny": ((16, 96), (8, 256), (4, 512), (2, 1024)), "smollm2": ((16, 110), (8, 256))}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--shape", choices=tuple(SHAPES), default="tiny")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast")
    parser.add_argument("--repeats", type=int, default=4, help="timed passes per implementation and turn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = LlamaConfig(**SHAPES[args.shape])
    model = LlamaForCausalLM(config)
    rows = []
    for batch, length in BATCHES[args.shape]:
        ids = torch.randint(0, config.vocab_size, (batch, length))
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[0, length // 2:] = 0
        inputs = {"input_ids": ids, "attention_mask": mask, "labels": ids}
        best: dict[str, float] = {}
        for _ in range(2):
            for implementation in ("sdpa", "eager"):
                model.set_attn_implementation(implementation)
                step_seconds(model, inputs, args.bf16)  # builds this shape's kernels
                median = statistics.median(step_seconds(model, inputs, args.bf16) for _ in range(args.repeats))
                best[implementation] = min(best.get(implementation, float("inf")), median)
        rows.append({"batch": batch, "length": length, "sdpa_s": round(best["sdpa"], 4),
                     "eager_s": round(best["eager"], 4), "eager_over_sdpa": round(best["eager"] / best["sdpa"], 3)})
    text = json.dumps({"shape": args.shape, "bf16_autocast": args.bf16, "threads": args.threads, "rows": rows}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
