"""Device-dependent training defaults, and `tinyagent train --dry-run` (no GPU, no weights)."""

import json

import pytest

from tinyagent_ft.models import SMOLLM2, TINY
from tinyagent_ft.train import TrainConfig
from tinyagent_ft.prompts import DEFAULT_PLAN_TOKENS
from tinyagent_ft.train.device_defaults import data_max_length, device_settings, plan_budget, training_attention


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


@pytest.mark.parametrize("flags, native", [
    ("fpu sse avx2 avx512f avx512bw", False),  # AVX-512 without its BF16 extension emulates bf16
    ("fpu avx2 avx512f avx512_bf16", True),
    ("fpu avx2 amx_bf16 amx_tile", True),
])
def test_a_cpu_autocasts_to_bf16_by_default_only_where_it_computes_bf16(tmp_path, monkeypatch, flags, native):
    from tinyagent_ft.train import device_defaults

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert device_defaults.cpu_has_native_bf16(cpuinfo) is native
    assert device_defaults.cpu_has_native_bf16(tmp_path / "absent") is False
    monkeypatch.setattr(device_defaults, "cpu_has_native_bf16", lambda: native)
    assert settings(tmp_path, model=TINY, device="cpu").autocast_bf16 is native
    assert settings(tmp_path, model=TINY, device="cpu", bf16=False).autocast_bf16 is False
    assert settings(tmp_path, model=TINY, device="cpu", bf16=True).autocast_bf16 is True


@pytest.mark.parametrize("native", [False, True])
def test_batches_computed_in_bf16_on_a_cpu_are_padded_to_a_multiple(tmp_path, monkeypatch, native):
    from tinyagent_ft.train import device_defaults

    monkeypatch.setattr(device_defaults, "cpu_has_native_bf16", lambda: native)
    assert settings(tmp_path, model=TINY, device="cpu").pad_to_multiple_of == (16 if native else None)
    assert settings(tmp_path, model=TINY, device="cpu", bf16=True).pad_to_multiple_of == 16
    assert settings(tmp_path, model=TINY, device="cpu", bf16=True, pad_to_multiple_of=1).pad_to_multiple_of is None
    assert settings(tmp_path, model=TINY, device="cpu", bf16=False, pad_to_multiple_of=8).pad_to_multiple_of == 8
    # bf16 weights on a GPU and float32 anywhere keep each batch at its longest example.
    assert settings(tmp_path, model="some/model", device="cuda").pad_to_multiple_of is None
    assert settings(tmp_path, model=TINY, device="cpu", bf16=False).pad_to_multiple_of is None


def test_an_unknown_device_is_refused(tmp_path):
    with pytest.raises(ValueError, match="--device"):
        settings(tmp_path, device="tpu")


def test_the_prompt_budget_is_cut_to_the_data_and_leaves_the_plans_their_budget():
    assert plan_budget([40, 90], 100) == DEFAULT_PLAN_TOKENS  # never below the former fixed budget
    assert plan_budget([40, 170], 120) == 290  # the longest plan, and room for the grammar to close it
    assert data_max_length([300, 700], plan_budget([40, 90], 100), 2048) == 700 + DEFAULT_PLAN_TOKENS
    assert data_max_length([300, 700], plan_budget([40, 400], 100), 2048) == 1200
    assert data_max_length([1900], plan_budget([90], 100), 2048) == 2048


def test_a_run_prints_its_effective_settings_and_keeps_them_in_planner_json(tmp_path, capfd):
    from tinyagent_ft.checkpoint import load_planner
    from tinyagent_ft.train import train
    from train_fixtures import TEST_SHAPE, write_data, write_retriever

    data = write_data(tmp_path / "data", train=16, val=4, test=4)
    out = tmp_path / "ckpt"
    train(TrainConfig(data=data, retriever=write_retriever(data, tmp_path / "retriever"), out=out, batch_size=4,
                      max_steps=2, eval_samples=0, tiny_shape=TEST_SHAPE, device="cpu", query_noise=0.1,
                      prompt_style="names", extra={"disable_tqdm": True}))
    planner = load_planner(out)
    effective = planner.info["effective"]
    assert effective["device"] == "cpu" and effective["weights_dtype"] == "float32"
    assert (effective["micro_batch"], effective["accumulation"]) == (4, 1)
    assert effective["pad_to_multiple_of"] == (16 if effective["autocast_bf16"] else None)
    # The tiny model's 512-token budget shrinks to its longest prompt plus the generation reserve.
    assert effective["max_length"] == planner.prompt_config.max_length <= 512
    # Plans get their longest training plan and the grammar's closing reserve, at least the former 256.
    assert effective["max_new_tokens"] == planner.prompt_config.max_new_tokens >= DEFAULT_PLAN_TOKENS
    err = capfd.readouterr().err
    assert f'"max_length": {effective["max_length"]}' in err and f'"max_new_tokens": {effective["max_new_tokens"]}' in err
    assert '"query_noise": 0.1' in err and planner.info["hyperparameters"]["query_noise"] == 0.1
    # Short `names` examples train with eager attention where the CPU computes in bf16; the planner is
    # saved with the model's own.
    assert effective["attention"] == ("eager" if effective["autocast_bf16"] else "sdpa")
    assert planner.model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize(("device", "autocast", "median_length", "expected"), [
    ("cpu", True, 111, "eager"), ("cpu", True, 160, "eager"), ("cpu", True, 160.5, None),
    ("cpu", False, 111, None), ("cuda", True, 111, None)])
def test_short_bf16_sequences_on_a_cpu_train_with_eager_attention(device, autocast, median_length, expected):
    settings = device_settings(TINY, device, autocast, None, (4, 1, 1))
    assert settings.autocast_bf16 == autocast
    assert training_attention(settings, median_length) == expected


def test_the_attention_for_training_is_undone_after_it():
    from tinyagent_ft.train.run import attention_for_training
    from train_fixtures import TEST_SHAPE

    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(TEST_SHAPE.llama_config(vocab_size=40, pad_token_id=0, bos_token_id=1, eos_token_id=2))
    own = model.config._attn_implementation
    with attention_for_training(model, "eager") as used:
        assert used == model.config._attn_implementation == "eager" != own
    assert model.config._attn_implementation == own
    with attention_for_training(model, None) as used:
        assert used == own


# TinyLlama-1.1B's shape (DESIGN.md) and what an H100 measured for it: bf16 weights, micro-batch 4 x 1,024
# tokens, gradient checkpointing, rank 128 (benchmarks/results/optimizer_gpu_h100.json, ..._bf16_moments.json).
TINYLLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                 tie_word_embeddings=False)
H100_SETTING = ["--bf16", "--per-device-batch-size", "4", "--max-length", "1024", "--gradient-checkpointing",
                "--rank", "128", "--device", "cuda", "--dry-run", "--json"]
GIB = 1024**3
MEASURED = {"adamw": {"state": 4.10, "peak": 10.31}, "natural_galore": {"state": 2.14, "peak": 7.81}}
KEYS = {"steps", "micro_batch", "accumulation", "tokens_per_step", "weights_bytes", "gradients_bytes",
        "optimizer_state_bytes", "activations_bytes", "peak_bytes"}


@pytest.fixture(scope="module")
def config_only(tmp_path_factory):
    """A TinyLlama-shaped config.json and the tiny tokenizer: no weights; and a data directory."""
    from transformers import LlamaConfig

    from tinyagent_ft.models import train_tokenizer
    from train_fixtures import write_data

    root = tmp_path_factory.mktemp("dry_run")
    LlamaConfig(**TINYLLAMA).save_pretrained(root / "model")
    train_tokenizer(["find Sid's email", "1. get_email_address(\"Sid\")"], vocab_size=300).save_pretrained(root / "model")
    return root / "model", write_data(root / "data", train=40, val=4, test=4)


def dry_run(config_only, capsys, *flags):
    from tinyagent_ft.cli import main

    model, data = config_only
    code = main(["train", "--data", str(data), "--retriever", str(data / "none"), "--out", str(data / "none"),
                 "--model", str(model), *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("optimizer", ["adamw", "natural_galore"])
def test_dry_run_matches_the_h100_measurements(config_only, capsys, optimizer):
    code, out, _ = dry_run(config_only, capsys, "--optimizer", optimizer, *H100_SETTING)
    facts = json.loads(out)  # one JSON object and nothing else
    assert code == 0 and KEYS <= set(facts) and not (config_only[0] / "model.safetensors").exists()
    assert (facts["micro_batch"], facts["accumulation"], facts["tokens_per_step"]) == (4, 8, 32 * 1024)
    assert facts["steps"] == 2 * 3  # 40 records in batches of 32, 3 epochs
    assert facts["weights_bytes"] == facts["gradients_bytes"] == 2 * facts["parameters"]
    measured = MEASURED[optimizer]
    assert abs(facts["optimizer_state_bytes"] / GIB / measured["state"] - 1) < 0.05
    assert abs(facts["peak_bytes"] / GIB / measured["peak"] - 1) < 0.15
    assert facts["device_memory_bytes"] is None and facts["fits"] is None  # no GPU here


def test_dry_run_plans_bf16_moments_as_the_optimizer_holds_them(config_only, monkeypatch):
    from tinyagent_ft.train.dry_run import estimate

    options = TrainConfig.galore_options
    monkeypatch.setattr(TrainConfig, "galore_options", lambda self: {**options(self), "state_dtype": "bfloat16"})
    config = TrainConfig(data=config_only[1], retriever=config_only[1], out=config_only[1], model=str(config_only[0]),
                         max_length=1024, per_device_batch_size=4, gradient_checkpointing=True, rank=128, device="cuda")
    assert abs(estimate(config, 40)["optimizer_state_bytes"] / GIB / 1.88 - 1) < 0.05


def test_dry_run_warns_when_the_estimate_exceeds_the_device(config_only, capsys):
    code, out, err = dry_run(config_only, capsys, "--device", "cpu", "--optimizer", "adamw", "--dry-run")
    assert code == 0 and "exceeds the device's" in err
    assert "peak memory per process" in out and "micro-batch 32 x accumulation 1" in out
