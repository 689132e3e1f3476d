"""Any tool catalog on the command line: `--tools` on every stage, the catalog stored with the retriever and
the checkpoint and read back from them, and one-line errors (exit 2, nothing written) for bad catalogs."""

from __future__ import annotations

import json

import pytest

from catalog_fixtures import HOME_TOOLS, write_home_data
from planner_eval.catalog_io import CATALOG_FILE, read_catalog, to_openai_schemas, write_catalog
from tinyagent_ft.cli import main

HOME = read_catalog(HOME_TOOLS)


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    return err


def write_json(path, value):
    path.write_text(json.dumps(value))
    return path


@pytest.mark.parametrize("catalog, says", [
    ([{"name": "a"}, {"name": "a"}], "duplicate name 'a'"),
    ([{"name": "a", "parameters": {"properties": {"x": {"type": "decimal"}}}}], "unknown JSON Schema type 'decimal'"),
    ([{"name": "join"}], "'join' is reserved"),
])
def test_bad_catalogs_are_one_line_errors(tmp_path, capsys, catalog, says):
    tools = write_json(tmp_path / "bad.json", catalog)
    write_home_data(tmp_path / "data")
    code = main(["data", "export", "--data", str(tmp_path / "data"), "--tools", str(tools), "--plans", str(tmp_path / "p.jsonl")])
    assert says in one_line_error(capsys, code) and not (tmp_path / "p.jsonl").exists()


def test_data_whose_every_record_fails_the_catalog_is_an_error(tmp_path, capsys):
    write_home_data(tmp_path)
    code = main(["data", "stats", "--data", str(tmp_path)])  # the built-in catalog knows none of these tools
    assert "none of its 48 records is usable" in one_line_error(capsys, code)
    assert main(["data", "stats", "--data", str(tmp_path), "--tools", str(HOME_TOOLS)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["train"]["records"] == 48 and report["train"]["skipped"] == 0 and set(report["test"]["tools"]) <= set(HOME)


def test_catalogs_without_a_grammar_are_refused_by_serve_naming_tool_and_argument(tmp_path, capsys):
    catalog = write_json(tmp_path / "obj.json", [{"name": "book", "parameters": {
        "properties": {"when": {"type": "string"}, "extra": {"description": "any value"}}, "required": ["when", "extra"]}}])
    for directory in ("model", "retriever"):
        write_catalog(read_catalog(catalog), tmp_path / directory)
    code = main(["serve", "--model", str(tmp_path / "model"), "--retriever", str(tmp_path / "retriever"), "--port", "0"])
    assert "tool 'book', argument 'extra'" in one_line_error(capsys, code)


def test_train_takes_a_catalog_with_object_arguments_and_refuses_untyped_ones(tmp_path, monkeypatch, capsys):
    from tinyagent_ft.train.run import training_catalog

    seen = {}

    def fake_train(config):
        seen["catalog"] = training_catalog(config)
        return {}

    monkeypatch.setattr("tinyagent_ft.train.train", fake_train)
    weather = {"city": {"type": "string"}, "options": {"type": "object", "required": ["unit"], "properties": {
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}}}}

    def train_with(name: str) -> int:
        tools = write_json(tmp_path / f"{name}.json", [{"name": "forecast", "parameters": {"properties": weather, "required": ["city", "options"]}}])
        write_catalog(read_catalog(tools), tmp_path / name)  # the retriever's stored catalog
        return main(["train", "--data", str(tmp_path), "--retriever", str(tmp_path / name), "--out", str(tmp_path / "out"), "--tools", str(tools)])

    assert train_with("objects") == 0
    assert [p.name for p in seen["catalog"]["forecast"].args[1].properties] == ["unit", "days"]
    weather["options"]["properties"]["days"] = {"description": "any value"}
    assert "tool 'forecast', argument 'options'" in one_line_error(capsys, train_with("untyped"))


def test_demo_with_tools_needs_data(tmp_path, capsys):
    code = main(["demo", "--tools", str(HOME_TOOLS), "--out", str(tmp_path / "demo")])
    assert "--tools needs --data" in one_line_error(capsys, code) and not (tmp_path / "demo").exists()


def test_a_catalog_travels_from_retriever_to_checkpoint_to_eval_and_serving(tmp_path, capsys):
    from fastapi.testclient import TestClient

    from serve.app import create_app
    from serve.engine import PlannerEngine
    from tinyagent_ft.planner import Planner

    data, retriever, planner, evals = (write_home_data(tmp_path / "data"), tmp_path / "retriever",
                                       tmp_path / "planner", tmp_path / "eval")
    assert main(["retriever", "train", "--data", str(data), "--out", str(retriever), "--tools", str(HOME_TOOLS),
                 "--epochs", "1", "--embedder", "classifier"]) == 0
    assert list(read_catalog(retriever / CATALOG_FILE)) == list(HOME)

    builtin = write_json(tmp_path / "builtin.json", to_openai_schemas())
    train = ["train", "--data", str(data), "--retriever", str(retriever), "--model", "tiny", "--tiny-width", "64",
             "--tiny-layers", "1", "--max-steps", "3", "--batch-size", "8", "--eval-samples", "0", "--out", str(planner)]
    capsys.readouterr()
    assert "catalogs disagree" in one_line_error(capsys, main([*train, "--tools", str(builtin)]))
    assert not planner.exists()
    assert main(train) == 0  # the retriever's catalog
    assert list(read_catalog(planner / CATALOG_FILE)) == list(HOME)

    assert main(["eval", "--model", str(planner), "--retriever", str(retriever), "--data", str(data),
                 "--out", str(evals), "--max-new-tokens", "120"]) == 0
    summary = json.loads((evals / "report.json").read_text())["summary"]
    assert summary["n"] == 8 and summary["valid_rate"] == 1.0
    assert summary["errors"].get("bad_arguments", 0) == 0 and summary["errors"].get("unknown_tool", 0) == 0
    capsys.readouterr()
    code = main(["eval", "--model", str(planner), "--retriever", str(retriever), "--data", str(data),
                 "--out", str(tmp_path / "eval2"), "--tools", str(builtin)])
    assert "catalogs disagree" in one_line_error(capsys, code) and not (tmp_path / "eval2").exists()

    engine = PlannerEngine(Planner.load(planner, retriever), "home")
    with TestClient(create_app(engine, default_max_new_tokens=120)) as client:
        assert [t["function"]["name"] for t in client.get("/v1/tools").json()] == list(HOME)
        body = client.post("/v1/plan", json={"query": "turn the den lights off"}).json()
        assert body["valid"] and {s["tool"] for s in body["steps"]} <= set(HOME)
        assert client.post("/v1/plan", json={"query": "text Bob", "tools": ["send_sms"]}).status_code == 400
