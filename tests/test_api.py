"""The Python API a script uses, called as a script would: string paths, one query, plans in memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train_fixtures import TEST_SHAPE, write_data, write_retriever


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    data = write_data(root / "data")
    return root, data, write_retriever(data, root / "retriever")


@pytest.fixture(scope="module")
def trained(workspace):
    """A planner trained through `train(TrainConfig(...))` with every path a str."""
    from tinyagent_ft import TrainConfig, train

    root, data, retriever = workspace
    out = root / "planner"
    facts = train(TrainConfig(data=str(data), retriever=str(retriever), out=str(out), batch_size=8, max_steps=3, logging_steps=1,
                              eval_samples=0, tiny_shape=TEST_SHAPE, extra={"disable_tqdm": True}))
    return out, facts


def test_every_package_has_the_one_version():
    import planner_eval
    import retriever
    import serve
    import tinyagent_ft

    versions = {p.__version__ for p in (planner_eval, retriever, serve, tinyagent_ft)}
    assert len(versions) == 1 and versions.pop().count(".") == 2


def test_importing_the_api_names_loads_no_torch():
    code = ("import sys; import planner_eval, tinyagent_ft, retriever; "
            "from planner_eval import score_plans; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_train_accepts_string_paths(trained):
    out, facts = trained
    assert facts["steps"] == 3
    assert (out / "config.json").is_file() and (out / "metrics.jsonl").is_file()


def test_planner_plan_of_one_query_is_one_plan_and_of_a_list_a_list(workspace, trained):
    from tinyagent_ft import Planner, PlanResult

    root, _, retriever = workspace
    planner = Planner.load(str(trained[0]), str(retriever), device="auto")
    one = planner.plan("Text Kai I'm late", max_new_tokens=160)
    assert isinstance(one, PlanResult) and one.query == "Text Kai I'm late"
    several = planner.plan(["Text Kai I'm late"], max_new_tokens=160)
    assert isinstance(several, list) and len(several) == 1 and several[0].plan == one.plan


def test_evaluate_returns_the_planner_eval_report(workspace, trained):
    from tinyagent_ft import Planner, evaluate

    _, data, retriever = workspace
    planner = Planner.load(trained[0], retriever)
    report = evaluate(planner, str(data), split="test", limit=2, max_new_tokens=160)
    assert report["summary"]["n"] == 2 and len(report["results"]) == 2
    assert 0.0 <= report["summary"]["success_rate"] <= 1.0
    assert report["summary"]["generation"]["new_tokens"] > 0


def test_evaluate_takes_a_dataset_where_a_directory_goes(workspace, trained):
    import datasets

    from tinyagent_ft import Planner, evaluate
    from tinyagent_ft.data import load_split

    _, data, retriever = workspace
    gold = load_split(data, "test").select(range(1))
    # A user's own Dataset: only query and plan; ids and tools are derived.
    own = datasets.Dataset.from_dict({"query": list(gold["query"]), "plan": list(gold["plan"])})
    planner = Planner.load(trained[0], retriever)
    report = evaluate(planner, own, max_new_tokens=160)
    assert [r["id"] for r in report["results"]] == ["0"]
    by_split = evaluate(planner, datasets.DatasetDict({"test": own}), split="test", max_new_tokens=160)
    assert by_split["summary"]["n"] == 1
    assert by_split["results"][0]["tool_set_match"] == report["results"][0]["tool_set_match"]


def test_score_plans_matches_score_files(tmp_path):
    from planner_eval import score_files, score_plans

    gold = {"a": '1. get_phone_number("Kai")\n2. send_sms(["$1"], "late")\n3. join()',
            "b": '1. create_note("x", "y", "Notes")\n2. join()'}
    pred = {"a": '1. get_phone_number("kai")\n2. send_sms(["$1"], "Late")\n3. join()', "b": "no plan"}
    for name, plans in (("gold", gold), ("pred", pred)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"id": k, "plan": v}) + "\n" for k, v in plans.items()))
    from_files = score_files(tmp_path / "gold.jsonl", str(tmp_path / "pred.jsonl"))
    in_memory = score_plans(gold, pred)
    assert in_memory == from_files
    assert in_memory["summary"]["success_rate"] == 0.5
    assert score_plans(list(gold.values()), list(pred.values()))["results"][1]["error"] == "parse"


def test_score_plans_takes_a_catalog():
    from planner_eval import from_openai_schemas, score_plans

    catalog = from_openai_schemas([{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                              "required": ["city"]}}}])
    report = score_plans(['1. get_weather("Oslo")\n2. join()'], ['1. get_weather(3)\n2. join()'], catalog=catalog)
    assert report["summary"]["catalog"] == "custom"
    assert report["results"][0]["error"] == "bad_arguments"
    with pytest.raises(TypeError):
        score_plans("1. join()", ["1. join()"])


def test_train_retriever_from_a_directory_saves_a_loadable_retriever(workspace, tmp_path):
    from retriever import Retriever, train_retriever
    from retriever_fixtures import minilm_tokenizer, tiny_bert_classifier

    _, data, _ = workspace
    backbone = tmp_path / "tiny-bert"
    classifier = tiny_bert_classifier(minilm_tokenizer())
    classifier.model.save_pretrained(backbone)
    classifier.tokenizer.save_pretrained(backbone)
    out = tmp_path / "retriever"
    trained = train_retriever(str(data), str(out), backbone=str(backbone), embedder="classifier", epochs=1,
                              batch_size=16, progress=False, log=lambda _: None)
    assert trained.info["train_records"] == 64 and trained.info["validation_records"] == 8
    loaded = Retriever.load(Path(out))
    assert len(loaded.index) == 64
    assert loaded.predict_tools(["Text Kai I'm late"])[0]


def test_a_dataset_in_memory_gets_its_ids_and_tools_derived():
    import datasets

    from tinyagent_ft.data.source import split_rows

    own = datasets.Dataset.from_dict({"query": ["text Kai"],
                                      "plan": ['1. get_phone_number("Kai")\n2. send_sms(["$1"], "late")\n3. join()']})
    rows = split_rows(own, "train")
    assert list(rows["id"]) == ["0"] and [list(t) for t in rows["tools"]] == [["get_phone_number", "send_sms"]]
    with pytest.raises(ValueError, match="lacks the column"):
        split_rows(datasets.Dataset.from_dict({"query": ["q"]}), "test")
    with pytest.raises(ValueError, match="'validation' split"):
        split_rows(datasets.DatasetDict({"train": own}), "validation")
