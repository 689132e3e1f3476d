"""The query -> plan pipeline (`Planner`) and `tinyagent eval` end to end, on a tiny random planner."""

from __future__ import annotations

import html
import json

from dataclasses import replace

import pytest
import torch

from planner_eval.catalog import TOOL_NAMES, TOOLS
from retriever import Retriever
from retriever.embedder import ClassifierEmbedder
from retriever.index import Example, ExampleIndex
from retriever_fixtures import minilm_tokenizer, tiny_bert_classifier
from tinyagent_ft.checkpoint import save_planner
from tinyagent_ft.cli import main as tinyagent
from tinyagent_ft.data import load_split
from tinyagent_ft.models import TinyShape, build_tiny
from tinyagent_ft.planner import Planner
from tinyagent_ft.prompts import PromptConfig

TINY = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=500)
PROMPTS = PromptConfig(style="compact", examples=2, max_length=2048)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is overhead-bound; more threads only contend on a shared CPU
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("planner")
    assert tinyagent(["data", "generate", "--out", str(root / "data"), "--train", "40", "--val", "6", "--test", "8", "--seed", "4"]) == 0
    train = load_split(root / "data", "train")
    model, tokenizer = build_tiny(list(train["query"]) + list(train["plan"]), TINY)
    save_planner(root / "ckpt", model, tokenizer, PROMPTS)
    classifier = tiny_bert_classifier(minilm_tokenizer())
    embedder = ClassifierEmbedder(classifier)
    index = ExampleIndex.build(train["id"], train["query"], train["tools"], train["plan"], embedder.encode, embedder.name)
    Retriever(classifier, index, embedder).save(root / "retriever")
    return root


class FixedRetriever:
    """Predicts the same tools for every query and returns made-up examples that use them."""

    catalog = TOOLS

    def __init__(self, tools: list[str]):
        self.tools = tools
        self.asked_for = None

    def predict_tools(self, queries):
        return [list(self.tools) for _ in queries]

    def predict_tools_and_embed(self, queries):
        return self.predict_tools(queries), None

    def retrieve(self, queries, k=5, tools=None, embeddings=None):
        self.asked_for = (k, tools)
        return [[Example(f"ex{i}", f"query {i}", list(self.tools), '1. join()<END_OF_PLAN>') for i in range(k)]
                for _ in queries]


@pytest.fixture(scope="module")
def loaded(workspace):
    return Planner.load(workspace / "ckpt")


def planner_with(loaded, retriever) -> Planner:
    return Planner(loaded.model, loaded.tokenizer, loaded.prompt_config, retriever)


def test_without_a_retriever_every_tool_and_no_example(loaded):
    [request] = loaded.prepare(["text Ava that I am late"])
    assert request.tools == list(TOOL_NAMES) and request.examples == []
    [restricted] = loaded.prepare(["text Ava"], tools=[["send_sms"]])
    assert restricted.tools == ["send_sms"] and "send_sms(" in restricted.prompt and "get_phone_number(" not in restricted.prompt


def test_tool_restrictions_intersect_the_prediction_or_replace_it(loaded):
    planner = planner_with(loaded, FixedRetriever(["get_phone_number", "send_sms"]))
    queries = ["a", "b", "c"]
    requests = planner.prepare(queries, tools=[["send_sms", "create_note"], ["create_note"], None])
    assert [r.tools for r in requests] == [["send_sms"], ["create_note"], ["get_phone_number", "send_sms"]]
    assert planner.retriever.asked_for == (PROMPTS.examples, [r.tools for r in requests])


def test_an_empty_prediction_falls_back_to_the_catalog(loaded):
    [request] = planner_with(loaded, FixedRetriever([])).prepare(["hmm"])
    assert request.tools == list(TOOL_NAMES)


def test_examples_follow_the_checkpoint_or_the_override(loaded):
    planner = planner_with(loaded, FixedRetriever(["send_sms"]))
    assert [len(r.examples) for r in planner.prepare(["a"])] == [PROMPTS.examples]
    assert [len(r.examples) for r in planner.prepare(["a", "b"], examples=[0, 1])] == [0, 1]
    kept = planner.prepare(["a"], examples=1)[0]
    assert kept.examples[0].example in kept.prompt and planner.prepare(["a"], examples=0)[0].examples == []
    with pytest.raises(ValueError):
        planner.prepare(["a", "b"], examples=[1])


def test_the_checkpoints_plan_budget_is_the_default_and_older_checkpoints_keep_256(loaded, workspace):
    assert loaded.prompt_config.max_new_tokens == 256  # saved without one, as before planners recorded it
    needed = len(loaded.prepare(["text Ava"], max_new_tokens=1)[0].prompt)  # characters bound its tokens
    roomy = PromptConfig(style="compact", examples=0, max_length=needed + 300, max_new_tokens=200)
    planner = Planner(loaded.model, loaded.tokenizer, roomy, None)
    assert planner.prepare(["text Ava"])[0].prompt  # prompt plus 200 fit
    tight = Planner(loaded.model, loaded.tokenizer, replace(roomy, max_new_tokens=needed + 300), None)
    with pytest.raises(ValueError, match="do not fit"):
        tight.prepare(["text Ava"])  # the recorded budget leaves the prompt no room
    assert tight.prepare(["text Ava"], max_new_tokens=200)[0].prompt  # an explicit budget wins


def test_plan_results_are_parsed_and_judged(loaded):
    planner = planner_with(loaded, FixedRetriever(["get_email_address", "compose_new_email"]))
    results = planner.plan(["email Ben the report", "mail Ines"], max_new_tokens=120)
    for result in results:
        assert result.valid and result.error is None and result.plan.endswith("<END_OF_PLAN>")
        assert {a.tool for a in result.actions} <= set(result.tools) and 0 < result.new_tokens <= 120
    free = planner.plan(["email Ben the report"], constrain=False, max_new_tokens=40)[0]
    assert free.valid == (free.error is None)


def test_eval_writes_predictions_gold_and_report(workspace, tmp_path, capsys):
    out = tmp_path / "eval"
    args = ["eval", "--model", str(workspace / "ckpt"), "--retriever", str(workspace / "retriever"),
            "--data", str(workspace / "data"), "--split", "test", "--limit", "5", "--max-new-tokens", "120", "--out", str(out)]
    assert tinyagent([*args, "--html", str(out / "report.html")]) == 0
    assert "tokens/s" in capsys.readouterr().out
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    gold = [json.loads(line) for line in (out / "gold.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [g["id"] for g in gold] == load_split(workspace / "data", "test")["id"][:5]
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["n"] == 5 and summary["valid_rate"] == 1.0  # constrained: every plan is a valid DAG
    assert summary["generation"]["constrained"] and summary["generation"]["new_tokens"] > 0
    # The HTML report shows each case's query, which gold.jsonl now carries.
    queries = load_split(workspace / "data", "test")["query"][:5]
    assert [g["query"] for g in gold] == queries
    page = (out / "report.html").read_text()
    assert page.lower().startswith("<!doctype html>") and "<svg" in page
    failed = [r["id"] for r in json.loads((out / "report.json").read_text())["results"] if not r["success"]]
    assert all(html.escape(queries[[g["id"] for g in gold].index(i)]) in page for i in failed)

    assert tinyagent(args[:-1] + [str(tmp_path / "free"), "--no-constrain", "--max-new-tokens", "30"]) == 0
    free = json.loads((tmp_path / "free" / "report.json").read_text())["summary"]
    assert free["n"] == 5 and free["generation"]["constrained"] is False


@pytest.mark.parametrize("flag, value, message", [
    ("--model", "missing-ckpt", "no such checkpoint"),
    ("--retriever", "missing-retriever", "not a retriever directory"),
])
def test_eval_reports_bad_input_in_one_line(workspace, tmp_path, capsys, flag, value, message):
    paths = {"--model": str(workspace / "ckpt"), "--retriever": str(workspace / "retriever")}
    paths[flag] = str(tmp_path / value)
    code = tinyagent(["eval", "--model", paths["--model"], "--retriever", paths["--retriever"],
                      "--data", str(workspace / "data"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_eval_rejects_an_unknown_split_and_prints_help(workspace, capsys):
    with pytest.raises(SystemExit) as bad:
        tinyagent(["eval", "--model", "m", "--retriever", "r", "--data", "d", "--split", "dev", "--out", "o"])
    assert bad.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as help_:
        tinyagent(["eval", "--help"])
    assert help_.value.code == 0 and "--no-constrain" in capsys.readouterr().out
