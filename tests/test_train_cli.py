"""`tinyagent train` on the command line: help and one-line errors (no training)."""

import pytest

from tinyagent_ft.cli import main
from tinyagent_ft.models import TinyShape


def test_help_lists_the_contract_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--data", "--retriever", "--model", "--optimizer", "--out", "--epochs", "--batch-size", "--lr",
                 "--max-steps", "--negatives", "--examples", "--prompt-style", "--max-length", "--seed",
                 "--eval-samples", "--gradient-checkpointing", "--bf16", "--resume", "--per-device-batch-size",
                 "--rank", "--update-proj-gap", "--scale", "--natural-history"):
        assert flag in text


@pytest.mark.parametrize("extra, message", [
    ([], "is not a retriever directory"),
    (["--batch-size", "30", "--per-device-batch-size", "8"], "not a multiple of per-device batch 8"),
    (["--tiny-width", "100"], "width must be a positive multiple of 64"),
    (["--model", "some/local-model", "--tiny-layers", "2"], "shape --model tiny only"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, capsys, extra, message):
    code = main(["train", "--data", str(tmp_path), "--retriever", str(tmp_path / "none"), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_an_unknown_optimizer_is_refused_by_its_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", str(tmp_path), "--retriever", str(tmp_path), "--out", str(tmp_path / "out"),
              "--optimizer", "sgd"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'sgd'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_tiny_shape_flags_reach_the_training_config(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_train(config):
        seen["shape"] = config.tiny_shape
        return {}

    monkeypatch.setattr("tinyagent_ft.train.train", fake_train)
    args = ["train", "--data", str(tmp_path), "--retriever", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main([*args, "--tiny-width", "768", "--tiny-layers", "8"]) == 0
    assert seen["shape"] == TinyShape(hidden_size=768, intermediate_size=2048, num_hidden_layers=8,
                                      num_attention_heads=12, num_key_value_heads=4)
    assert main(args) == 0
    assert seen["shape"] == TinyShape()  # the flags' defaults are the default model


def test_scaled_tiny_shape_keeps_heads_divisible():
    for width in range(64, 1600, 64):
        shape = TinyShape.scaled(width, 2)
        assert shape.num_attention_heads * 64 == width
        assert shape.num_attention_heads % shape.num_key_value_heads == 0
        assert shape.intermediate_size % 64 == 0
