"""metrics.jsonl: one JSON object per logged step, written by process 0 only."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from tinyagent_ft.optim.memory import tensor_state_bytes

_EVAL_KEYS = ("eval_loss", "eval_success_rate", "eval_tool_set_accuracy", "eval_valid_rate", "eval_plan_score")


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB, macOS bytes


def current_rss_bytes() -> int:
    """This process's resident memory now (Linux), where a peak cannot show growth over a run."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def optimizer_state_bytes(optimizer) -> int:
    return tensor_state_bytes(list(optimizer.state.values()))["total"]


class MetricsLogger(TrainerCallback):
    """Training lines: step, epoch, loss, lr, grad_norm, tokens_per_s (non-padding tokens, all ranks),
    optimizer_state_bytes, peak_rss_bytes, peak_gpu_bytes on a GPU, natural_cos for Natural GaLore.
    Validation lines: step, epoch and the eval_* metrics.

    On resume the lines past the checkpoint's step are dropped first, so the file reads as one run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._clock = (time.perf_counter(), 0)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._drop_lines_after(state.global_step)
        self._clock = (time.perf_counter(), state.num_input_tokens_seen)

    def on_log(self, args, state, control, logs=None, optimizer=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if "loss" in logs:
            line = self._training_line(state, logs, getattr(optimizer, "optimizer", optimizer))
        elif "eval_loss" in logs:
            line = {"step": state.global_step, "epoch": logs.get("epoch")}
            line.update({key: logs[key] for key in _EVAL_KEYS if key in logs})
        else:
            return  # the end-of-training summary; planner.json keeps its facts
        self._clock = (time.perf_counter(), state.num_input_tokens_seen)  # evaluation time is not training time
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def _training_line(self, state, logs: dict, optimizer) -> dict:
        started, tokens_then = self._clock
        elapsed = time.perf_counter() - started
        line = {
            "step": state.global_step,
            "epoch": logs.get("epoch"),
            "loss": logs["loss"],
            "lr": logs.get("learning_rate"),
            "grad_norm": logs.get("grad_norm"),
            "tokens_per_s": (state.num_input_tokens_seen - tokens_then) / elapsed if elapsed > 0 else None,
            "peak_rss_bytes": peak_rss_bytes(),
        }
        if optimizer is not None:
            line["optimizer_state_bytes"] = optimizer_state_bytes(optimizer)
            if hasattr(optimizer, "natural_cosine"):
                line["natural_cos"] = optimizer.natural_cosine()
        if torch.cuda.is_available():
            line["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        return line

    def _drop_lines_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        self.path.write_text("".join(line + "\n" for line in kept))
