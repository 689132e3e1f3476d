"""Two gloo processes train like one process with the same global batch and data order."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyagent_ft.checkpoint import load_planner
from train_fixtures import write_data, write_retriever

TESTS = Path(__file__).parent


def run_workers(n: int, data: Path, retriever: Path, out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
               str(TESTS / "train_worker.py"), str(data), str(retriever), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    # An awkward record count: transformers' own length grouping, sized by the per-device batch,
    # ordered it differently for 1 and 2 processes (this test failed so); ours must not.
    data = write_data(tmp_path / "data", train=61)
    retriever = write_retriever(data, tmp_path / "retriever")
    one = run_workers(1, data, retriever, tmp_path / "one")
    two = run_workers(2, data, retriever, tmp_path / "two")
    assert [line["step"] for line in two] == [line["step"] for line in one]  # process 0 alone wrote the file
    losses = lambda lines, key: [line[key] for line in lines if key in line]  # noqa: E731
    assert losses(two, "loss") == pytest.approx(losses(one, "loss"), rel=2e-3)
    assert losses(two, "eval_loss") == pytest.approx(losses(one, "eval_loss"), rel=2e-3)
    first = load_planner(tmp_path / "one").model.state_dict()
    second = load_planner(tmp_path / "two").model.state_dict()
    assert all(np_close(first[name], second[name]) for name in first)


def np_close(a, b) -> bool:
    import torch

    return torch.allclose(a, b, rtol=1e-3, atol=1e-4)
