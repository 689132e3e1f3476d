"""One vocabulary across `tinyagent`'s subcommands: help for every flag with its default, old
spellings that still work (deprecated ones warn), --config files, and `tinyagent score`."""

from __future__ import annotations

import argparse
import json

import pytest

from tinyagent_ft.cli import build_parser, main
from tinyagent_ft.cli_options import subparsers_of


def leaf_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    return [(name, p) for name, p in subparsers_of(build_parser())
            if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]


def visible_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]


def test_the_walk_reaches_every_subcommand():
    names = {name for name, _ in leaf_parsers()}
    assert {"data generate", "data export", "data stats", "retriever train", "retriever eval", "retriever query",
            "train", "eval", "score", "baseline", "serve", "demo", "compare"} <= names


@pytest.mark.parametrize("name, parser", leaf_parsers(), ids=[name for name, _ in leaf_parsers()])
def test_every_flag_has_help_and_shows_its_default(name, parser):
    assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter)
    formatter = parser.formatter_class(prog=parser.prog)
    text = " ".join(parser.format_help().split())
    for action in visible_actions(parser):
        assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest}: no help"
        takes_value = action.nargs != 0
        if takes_value and action.option_strings and action.default is not None:
            assert "%(default)" in formatter._get_help_string(action), f"{name} {action.option_strings}: default hidden"
            shown = action.default if not isinstance(action.default, list) else action.default
            assert f"(default: {shown})" in text, f"{name} {action.option_strings}: {shown!r} not in --help"


def test_closed_sets_are_choices():
    parsers = dict(leaf_parsers())
    optimizer = next(a for a in parsers["train"]._actions if a.dest == "optimizer")
    report_to = next(a for a in parsers["train"]._actions if a.dest == "report_to")
    assert set(optimizer.choices) == {"natural_galore", "galore", "adamw", "lora"}
    assert set(report_to.choices) == {"none", "tensorboard", "wandb"}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "d", "--retriever", "r", "--out", "o", "--optimizer", "sgd"])


TRAIN = ["train", "--data", "d", "--retriever", "r", "--out", "o"]


@pytest.mark.parametrize("old, new, dest, value", [
    (["--eval-no-constrain"], ["--no-constrain"], "eval_constrain", False),
    (["--batch-size", "4"], ["--generation-batch-size", "4"], "generation_batch_size", 4),
    (["--batch-size", "8"], ["--classifier-batch-size", "8"], "classifier_batch_size", 8),
])
def test_deprecated_spellings_work_and_warn(old, new, dest, value, capsys):
    command = {"eval_constrain": TRAIN,
               "generation_batch_size": ["eval", "--model", "m", "--retriever", "r", "--data", "d", "--out", "o"],
               "classifier_batch_size": ["retriever", "train", "--data", "d", "--out", "o"]}[dest]
    parser = build_parser()
    assert getattr(parser.parse_args(command + new), dest) == value
    assert "deprecated" not in capsys.readouterr().err
    assert getattr(build_parser().parse_args(command + old), dest) == value
    assert f"{old[0]} is deprecated; use {new[0]}" in capsys.readouterr().err


def test_permanent_aliases_work_without_a_warning(capsys):
    parser = build_parser()
    assert parser.parse_args(["retriever", "eval", "--index", "R", "--queries", "q", "--out", "o"]).retriever.name == "R"
    assert parser.parse_args(["retriever", "query", "--index", "R", "text"]).retriever.name == "R"
    assert parser.parse_args(["data", "generate", "--out", "o", "--val", "7"]).val == 7
    assert parser.parse_args(["data", "generate", "--out", "o", "--validation", "7"]).val == 7
    assert capsys.readouterr().err == ""


def test_device_defaults_to_auto_where_a_model_runs():
    parser = build_parser()
    for argv in (TRAIN, ["eval", "--model", "m", "--retriever", "r", "--data", "d", "--out", "o"],
                 ["serve", "--model", "m", "--retriever", "r"]):
        assert parser.parse_args(argv).device == "auto"


def test_auto_device_is_cpu_without_an_accelerator(monkeypatch):
    import torch

    from tinyagent_ft.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"


def test_compare_and_demo_take_a_model():
    parser = build_parser()
    assert parser.parse_args(["demo", "--model", "smollm2"]).model == "smollm2"
    args = parser.parse_args(["compare", "--out", "o", "--model", "x", "--optimizers", "adamw,lora", "galore"])
    assert args.model == "x" and args.optimizers == [["adamw", "lora"], ["galore"]]


def test_config_file_sets_defaults_and_flags_override(tmp_path):
    from tinyagent_ft.cli_options import apply_config

    (tmp_path / "train.yaml").write_text("data: runs/d\nretriever: runs/r\nout: runs/o\nlr: 0.01\n"
                                         "report-to: tensorboard\neval_constrain: false\nepochs: 2\n")
    argv = ["train", "--config", str(tmp_path / "train.yaml"), "--lr", "0.5"]
    parser = build_parser()
    apply_config(parser, argv)
    args = parser.parse_args(argv)
    assert (args.data.as_posix(), args.lr, args.report_to, args.eval_constrain, args.epochs) == ("runs/d", 0.5, "tensorboard", False, 2)
    (tmp_path / "gen.json").write_text(json.dumps({"out": str(tmp_path / "g"), "train": 5, "val": 2, "test": 2}))
    assert main(["data", "generate", "--config", str(tmp_path / "gen.json")]) == 0
    assert (tmp_path / "g" / "testing_data.json").is_file()


@pytest.mark.parametrize("content, message", [
    ("nonsense_key: 1\n", "unknown setting(s) for `tinyagent train`: nonsense_key"),
    ("report_to: mlflow\n", "report_to must be one of"),
    ("- a list\n", "expected a mapping"),
    ("a: [unclosed\n", "not YAML or JSON"),
])
def test_a_bad_config_is_a_one_line_error(tmp_path, capsys, content, message):
    (tmp_path / "c.yaml").write_text(content)
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_train_passes_report_to_and_keeps_save_steps_apart_from_eval_steps(tmp_path):
    from tinyagent_ft.train import TrainConfig
    from tinyagent_ft.train.run import training_arguments

    base = dict(data=tmp_path, retriever=tmp_path, out=str(tmp_path / "o"), batch_size=4, max_steps=8)
    args = training_arguments(TrainConfig(**base, report_to="tensorboard", eval_steps=2, save_steps=4), 16, True)
    assert args.report_to == ["tensorboard"] and (args.eval_steps, args.save_steps) == (2, 4)
    assert training_arguments(TrainConfig(**base, eval_steps=2), 16, True).save_steps == 2
    with pytest.raises(ValueError, match="multiple of --eval-steps"):
        TrainConfig(**base, eval_steps=2, save_steps=3)


def test_tinyagent_score_is_planner_eval_score(tmp_path, capsys):
    from planner_eval.cli import main as planner_eval

    gold, pred = tmp_path / "g.jsonl", tmp_path / "p.jsonl"
    gold.write_text(json.dumps({"id": "1", "plan": '1. get_phone_number("Kai")\n2. join()'}) + "\n")
    pred.write_text(json.dumps({"id": "1", "plan": '1. get_phone_number("kai")\n2. join()'}) + "\n")
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--out", str(tmp_path / "a.json")]) == 0
    assert planner_eval(["score", "--gold", str(gold), "--pred", str(pred), "--out", str(tmp_path / "b.json")]) == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    assert json.loads((tmp_path / "a.json").read_text())["summary"]["success_rate"] == 1.0
