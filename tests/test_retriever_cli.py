"""`tinyagent retriever train|eval|query` end to end on generated data, with a tiny backbone."""

from __future__ import annotations

import json

import pytest

from planner_eval.catalog import TOOL_NAMES
from retriever_fixtures import minilm_tokenizer, tiny_bert_classifier
from tinyagent_ft.cli import main


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("retriever_cli")
    assert main(["data", "generate", "--out", str(root / "data"), "--train", "40", "--val", "12", "--test", "12", "--seed", "3"]) == 0
    backbone = root / "tiny-bert"
    classifier = tiny_bert_classifier(minilm_tokenizer())
    classifier.model.save_pretrained(backbone)
    classifier.tokenizer.save_pretrained(backbone)
    return root


@pytest.fixture(scope="module")
def trained_dir(workspace):
    out = workspace / "retriever"
    code = main([
        "retriever", "train", "--data", str(workspace / "data"), "--out", str(out),
        "--backbone", str(workspace / "tiny-bert"), "--epochs", "1", "--batch-size", "16",
    ])
    assert code == 0
    return out


def test_train_saves_classifier_index_and_manifest(workspace, trained_dir, capsys):
    manifest = json.loads((trained_dir / "retriever.json").read_text())
    assert manifest["tool_names"] == list(TOOL_NAMES)
    assert manifest["backbone"]["source"] == "local" and manifest["backbone"]["path"].endswith("tiny-bert")
    assert manifest["embedder"] == "packaged:all-MiniLM-L6-v2"
    assert 0 < manifest["threshold"] < 1 and manifest["info"]["validation_records"] == 12
    config = json.loads((trained_dir / "classifier" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and config["tool_threshold"] == manifest["threshold"]
    assert (trained_dir / "classifier" / "model.safetensors").is_file()
    examples = json.loads((trained_dir / "index" / "examples.json").read_text())["examples"]
    assert 0 < len(examples) <= 40 and all("join()" in e["plan"] for e in examples)


def test_eval_writes_the_report(workspace, trained_dir, tmp_path):
    queries = tmp_path / "q.jsonl"
    assert main(["data", "export", "--data", str(workspace / "data"), "--split", "test", "--queries", str(queries)]) == 0
    report_path = tmp_path / "r.json"
    assert main(["retriever", "eval", "--index", str(trained_dir), "--queries", str(queries), "--out", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["n"] == 12 and len(report["results"]) == 12
    for key in ("tool_recall", "tool_precision", "exact_set_accuracy", "mean_tools_selected"):
        assert 0.0 <= report[key] <= 16.0
    assert report["mean_tools_selected"] >= 1.0  # the most likely tool is always selected


def test_query_prints_tools_and_examples(trained_dir, capsys):
    capsys.readouterr()
    assert main(["retriever", "query", "--index", str(trained_dir), "-k", "3", "text Sam that I am running late"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["tools"] and set(answer["tools"]) <= set(TOOL_NAMES)
    assert len(answer["examples"]) == 3
    for example in answer["examples"]:
        assert set(example) == {"id", "query", "tools", "score"} and -1.0 <= example["score"] <= 1.0 + 1e-6
    assert [e["score"] for e in answer["examples"] if set(e["tools"]) <= set(answer["tools"])] == sorted(
        (e["score"] for e in answer["examples"] if set(e["tools"]) <= set(answer["tools"])), reverse=True
    )


def test_shared_encoder_index_is_saved_and_served_by_the_classifier(workspace, tmp_path, capsys):
    out = tmp_path / "shared"
    code = main([
        "retriever", "train", "--data", str(workspace / "data"), "--out", str(out), "--embedder", "classifier",
        "--backbone", str(workspace / "tiny-bert"), "--epochs", "1", "--batch-size", "16",
    ])
    assert code == 0
    assert json.loads((out / "retriever.json").read_text())["embedder"] == "classifier"
    hidden_size = json.loads((out / "classifier" / "config.json").read_text())["hidden_size"]
    from safetensors.torch import load_file

    assert load_file(str(out / "index" / "embeddings.safetensors"))["embeddings"].shape[1] == hidden_size
    capsys.readouterr()
    assert main(["retriever", "query", "--index", str(out), "-k", "2", "email Ava about rent"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["examples"]) == 2 and all(-1.0 <= e["score"] <= 1.0 + 1e-6 for e in answer["examples"])


def test_train_with_an_unreachable_backbone_fails_in_one_line(workspace, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    code = main(["retriever", "train", "--data", str(workspace / "data"), "--out", str(tmp_path / "r"), "--backbone", "nobody/no-such-model"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nobody/no-such-model" in err
    assert not (tmp_path / "r").exists()
