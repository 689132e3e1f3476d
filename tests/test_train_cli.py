"""`tinyagent train` on the command line: help and one-line errors (no training)."""

import pytest

from tinyagent_ft.cli import main


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
    (["--optimizer", "sgd"], "optimizer must be one of natural_galore, galore, adamw, lora"),
    ([], "is not a retriever directory"),
    (["--batch-size", "30", "--per-device-batch-size", "8"], "not a multiple of per-device batch 8"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, capsys, extra, message):
    code = main(["train", "--data", str(tmp_path), "--retriever", str(tmp_path / "none"), "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
