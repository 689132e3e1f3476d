"""benchmarks/finetune.py reuses a finished run only when it trained as its config would today."""

import json
from pathlib import Path

from benchmark_scripts import load_benchmark
from tinyagent_ft.train import TrainConfig

finetune = load_benchmark("finetune")


def saved_run(out: Path, **hyperparameters) -> Path:
    out.mkdir(exist_ok=True)
    (out / "planner.json").write_text(json.dumps({"info": {"hyperparameters": {"lr": 5e-4, **hyperparameters}}}))
    return out


def config(out: Path, **settings) -> TrainConfig:
    return TrainConfig(data=out, retriever=out, out=out, model="smollm2", **settings)


def test_a_run_with_other_query_noise_is_not_reused(tmp_path):
    out = saved_run(tmp_path / "run", query_noise=0.15)
    assert finetune.trained_as(config(out, optimizer="adamw", query_noise=0.15))
    assert not finetune.trained_as(config(out, optimizer="adamw", query_noise=0.0))


def test_a_run_saved_before_query_noise_existed_counts_as_noise_free(tmp_path):
    out = saved_run(tmp_path / "run")
    assert finetune.trained_as(config(out, optimizer="adamw", query_noise=0.0))
    assert not finetune.trained_as(config(out, optimizer="adamw", query_noise=0.15))


def test_galore_runs_also_need_todays_galore_settings(tmp_path):
    today = config(tmp_path, optimizer="natural_galore", query_noise=0.0)
    out = saved_run(tmp_path / "run", query_noise=0.0, **today.galore_options())
    assert finetune.trained_as(config(out, optimizer="natural_galore", query_noise=0.0))
    assert not finetune.trained_as(config(out, optimizer="natural_galore", query_noise=0.0, scale=0.25))
