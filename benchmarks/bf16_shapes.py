"""Resident memory of CPU training steps over many sequence lengths, bf16 autocast against float32,
each batch padded to its own length or to a multiple (`tinyagent train --pad-to-multiple-of`).

oneDNN builds its bf16 kernels per matrix shape and keeps them, so a run whose every batch has a new
length grows where a float32 one does not. Prints one JSON object: per setting, RSS (MiB) and seconds
every 20 steps.

    python benchmarks/bf16_shapes.py --steps 100
"""

from __future__ import annotations

import argparse
import json
import random
import time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per setting")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--multiple", type=int, default=64, help="the padded setting's length multiple")
    return parser.parse_args(argv)


def run(steps: int, multiple: int, bf16: bool) -> list[dict]:
    """A fresh 256 x 4 Llama trained ``steps`` steps of batch 4 at lengths drawn from 120-420."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tinyagent_ft.train.callbacks import current_rss_bytes

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=4096, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024))
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    rng, started, points = random.Random(0), time.perf_counter(), []
    for step in range(1, steps + 1):
        length = -(-rng.randint(120, 420) // multiple) * multiple
        ids = torch.randint(0, 4096, (4, length))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 20 == 0:
            points.append({"step": step, "rss_mib": round(current_rss_bytes() / 2**20), "seconds": round(time.perf_counter() - started, 1)})
    return points


def main(argv=None) -> None:
    import multiprocessing

    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = {"bf16, padded to the batch": (1, True), f"bf16, padded to {args.multiple}": (args.multiple, True),
                "float32, padded to the batch": (1, False)}
    # Each setting in its own process: the kernels one builds must not count in the next one's memory.
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        results = {name: pool.apply(run, (args.steps, multiple, bf16)) for name, (multiple, bf16) in settings.items()}
    print(json.dumps({"steps": args.steps, "threads": args.threads, "results": results}, indent=2))


if __name__ == "__main__":
    main()
