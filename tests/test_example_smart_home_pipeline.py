"""A catalog the project never trained on, end to end: the smart-home example's data trains a
retriever and a tiny planner, which is evaluated and served with no `--tools` after the first stage
(the catalog travels in the artifacts' tools.json). A few steps cannot make it plan well; every
plan must still be valid under that catalog and use only its tools."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from planner_eval.catalog_io import read_catalog
from planner_eval.cli import main as planner_eval_main
from planner_eval.parse import parse_plan
from smart_home_fixtures import CATALOG_FILE, generate
from tests.serve_fixtures import one_torch_thread  # noqa: F401  (a fixture, used by _one_torch_thread)
from tinyagent_ft.cli import main as tinyagent

BUDGET = 160  # new tokens per plan: room for a first action of the longest tool, then join
N_TEST = 6


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread):
    yield


def _write_retriever(data: Path, directory: Path) -> Path:
    """A retriever over the catalog with a random 2-layer BERT (its training is the retriever tests'
    business, and fine-tuning MiniLM would take minutes here); saving it stores the catalog."""
    from retriever.embedder import CLASSIFIER_EMBEDDER, ClassifierEmbedder
    from retriever.index import ExampleIndex
    from retriever.retriever import Retriever
    from retriever_fixtures import minilm_tokenizer, tiny_bert_classifier
    from tinyagent_ft.data import load_split

    catalog = read_catalog(CATALOG_FILE)
    rows = load_split(data, "train", catalog)
    classifier = tiny_bert_classifier(minilm_tokenizer(), tool_names=list(catalog))
    embedder = ClassifierEmbedder(classifier)
    index = ExampleIndex.build(rows["id"], rows["query"], rows["tools"], rows["plan"], embedder.encode, CLASSIFIER_EMBEDDER,
                               tool_names=list(catalog))
    Retriever(classifier, index, embedder, catalog=catalog).save(directory)
    return directory


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("smart_home_pipeline")
    paths = {name: root / name for name in ("data", "retriever", "planner", "eval")}
    assert generate.main(["--out", str(paths["data"]), "--train", "96", "--val", "8", "--test", str(N_TEST), "--seed", "2"]) == 0
    _write_retriever(paths["data"], paths["retriever"])
    # From here on no --tools: train takes the retriever's catalog, eval the checkpoint's.
    assert tinyagent(["train", "--data", str(paths["data"]), "--retriever", str(paths["retriever"]), "--model", "tiny",
                      "--tiny-width", "64", "--tiny-layers", "1", "--max-steps", "4", "--batch-size", "8",
                      "--eval-samples", "0", "--out", str(paths["planner"])]) == 0
    assert tinyagent(["eval", "--model", str(paths["planner"]), "--retriever", str(paths["retriever"]),
                      "--data", str(paths["data"]), "--split", "test", "--max-new-tokens", str(BUDGET),
                      "--out", str(paths["eval"])]) == 0
    return paths


def _names(schemas: list[dict]) -> list[str]:
    return [schema.get("function", schema)["name"] for schema in schemas]


@pytest.mark.slow
def test_the_catalog_travels_with_the_retriever_and_the_checkpoint(trained):
    expected = _names(json.loads(CATALOG_FILE.read_text()))
    for artifact in ("retriever", "planner"):
        assert list(read_catalog(trained[artifact] / "tools.json")) == expected, artifact


@pytest.mark.slow
def test_every_evaluated_plan_is_valid_under_the_catalog(trained, tmp_path):
    predictions = trained["eval"] / "predictions.jsonl"
    report = tmp_path / "report.json"
    assert planner_eval_main(["score", "--tools", str(CATALOG_FILE), "--check-args", "--gold", str(trained["eval"] / "gold.jsonl"),
                              "--pred", str(predictions), "--out", str(report)]) == 0
    summary = json.loads(report.read_text())["summary"]
    assert summary["n"] == N_TEST and summary["valid_rate"] == 1.0
    assert summary["errors"]["unknown_tool"] == 0 and summary["errors"]["bad_arguments"] == 0
    catalog = read_catalog(CATALOG_FILE)
    for line in predictions.read_text().splitlines():
        actions = parse_plan(json.loads(line)["plan"], catalog).actions
        assert actions and {a.tool for a in actions} <= set(catalog)


@pytest.mark.slow
def test_the_served_planner_answers_with_the_catalog_it_was_trained_on(trained):
    from serve.app import create_app
    from serve.engine import PlannerEngine
    from tests.serve_fixtures import live_server
    from tinyagent_ft.planner import Planner

    catalog = read_catalog(CATALOG_FILE)
    engine = PlannerEngine(Planner.load(trained["planner"], trained["retriever"]), model_name="smart-home")
    with live_server(create_app(engine, default_max_new_tokens=BUDGET)) as url, httpx.Client(base_url=url, timeout=120) as client:
        listed = client.get("/v1/tools")
        answer = client.post("/v1/plan", json={"query": "Dim the kitchen lights to 30% and play jazz in the office"})
    assert listed.status_code == 200 and _names(listed.json()) == list(catalog)
    assert answer.status_code == 200
    body = answer.json()
    assert body["valid"] and body["steps"] and {s["tool"] for s in body["steps"]} <= set(catalog)
