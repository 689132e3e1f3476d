"""Device-dependent training defaults, and `tinyagent train --dry-run` (no GPU, no weights)."""

import pytest

from tinyagent_ft.models import SMOLLM2, TINY
from tinyagent_ft.train import TrainConfig
from tinyagent_ft.train.device_defaults import GENERATION_RESERVE, data_max_length


def settings(tmp_path, **options):
    return TrainConfig(data=tmp_path, retriever=tmp_path, out=tmp_path, **options).device_settings()


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def test_a_pretrained_model_on_a_gpu_gets_the_memory_safe_defaults(tmp_path):
    s = settings(tmp_path, model="some/model", device="cuda", batch_size=32)
    assert (s.weights_dtype, s.autocast_bf16, s.gradient_checkpointing) == ("bfloat16", False, True)
    assert (s.micro_batch, s.accumulation) == (4, 8)
    assert settings(tmp_path, model=SMOLLM2, device="cuda", batch_size=6).micro_batch == 3  # a divisor within 4


def test_the_user_overrides_each_gpu_default(tmp_path):
    s = settings(tmp_path, model="some/model", device="cuda", batch_size=32, bf16=False,
                 gradient_checkpointing=False, per_device_batch_size=16)
    assert (s.weights_dtype, s.autocast_bf16, s.gradient_checkpointing) == ("float32", False, False)
    assert (s.micro_batch, s.accumulation) == (16, 2)


def test_the_cpu_and_the_tiny_model_keep_float32_weights(tmp_path):
    cpu = settings(tmp_path, model="some/model", device="cpu", batch_size=32, bf16=True)
    assert (cpu.weights_dtype, cpu.autocast_bf16, cpu.gradient_checkpointing, cpu.micro_batch) == ("float32", True, False, 32)
    assert settings(tmp_path, model=SMOLLM2, device="cpu", batch_size=16).micro_batch == 8
    tiny = settings(tmp_path, model=TINY, device="cuda", batch_size=32)
    assert (tiny.weights_dtype, tiny.gradient_checkpointing, tiny.micro_batch) == ("float32", False, 32)


def test_an_unknown_device_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--device"):
        settings(tmp_path, device="tpu")


def test_the_prompt_budget_is_cut_to_the_data():
    assert data_max_length([300, 700], [40, 90], 2048) == 700 + GENERATION_RESERVE
    assert data_max_length([300, 700], [40, 400], 2048) == 1100  # a plan longer than the reserve
    assert data_max_length([1900], [90], 2048) == 2048


def test_a_run_prints_its_effective_settings_and_keeps_them_in_planner_json(tmp_path, capfd):
    from tinyagent_ft.checkpoint import load_planner
    from tinyagent_ft.train import train
    from train_fixtures import TEST_SHAPE, write_data, write_retriever

    data = write_data(tmp_path / "data", train=16, val=4, test=4)
    out = tmp_path / "ckpt"
    train(TrainConfig(data=data, retriever=write_retriever(data, tmp_path / "retriever"), out=out, batch_size=4,
                      max_steps=2, eval_samples=0, tiny_shape=TEST_SHAPE, device="cpu", extra={"disable_tqdm": True}))
    planner = load_planner(out)
    effective = planner.info["effective"]
    assert effective["device"] == "cpu" and effective["weights_dtype"] == "float32"
    assert (effective["micro_batch"], effective["accumulation"]) == (4, 1)
    # The tiny model's 512-token budget shrinks to its longest prompt plus the generation reserve.
    assert effective["max_length"] == planner.prompt_config.max_length <= 512
    assert f'"max_length": {effective["max_length"]}' in capfd.readouterr().err
