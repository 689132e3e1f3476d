"""`tinyagent eval --endpoint`: a split planned by an OpenAI-compatible endpoint, scored as `tinyagent eval`
scores it. Against the real server on loopback, a fake endpoint on loopback that misbehaves on chosen
queries, and httpx's MockTransport for the client alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from planner_eval.catalog import TOOLS
from planner_eval.parse import parse_plan
from planner_eval.report import score_files
from planner_eval.tool_calls import actions_to_tool_calls, tool_calls_to_plan_text
from tinyagent_ft.cli import main
from tinyagent_ft.endpoint_eval import EndpointClient, chat_completions_url, percentile, plan_all, served_model
from tests.serve_fixtures import live_server, save_tiny_checkpoint, save_tiny_retriever

KEY = "endpoint-key"
BUDGET = 160  # as in test_serve.py: room for a first action before the grammar closes the plan


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from tinyagent_ft.data import SPLIT_FILES, generate_splits, write_tinyagent_file

    directory = tmp_path_factory.mktemp("data")
    write_tinyagent_file(generate_splits(4, 0, 8, seed=11)["test"], directory / SPLIT_FILES["test"])
    return directory


def split_rows(data) -> list[dict]:
    from tinyagent_ft.data import load_split

    return list(load_split(data, "test"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def completion(message: dict) -> dict:
    return {"id": "c", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}]}


def gold_calls(plan: str) -> list[dict]:
    return actions_to_tool_calls(parse_plan(plan).actions)


# --- the real server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import torch

    from serve.app import create_app
    from serve.engine import PlannerEngine
    from tinyagent_ft.planner import Planner

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices gain nothing from a second thread on a shared CPU
    root = tmp_path_factory.mktemp("served")
    planner = Planner.load(save_tiny_checkpoint(root / "ckpt"), save_tiny_retriever(root / "retriever"))
    engine = PlannerEngine(planner, model_name="tiny-planner")
    with live_server(create_app(engine, api_key=KEY, default_max_new_tokens=BUDGET)) as url:
        yield url
    torch.set_num_threads(threads)


def test_eval_against_the_served_planner_writes_eval_outputs_with_latencies(served, data, tmp_path):
    out = tmp_path / "e"
    code = main(["eval", "--endpoint", f"{served}/v1", "--api-key", KEY, "--data", str(data), "--split", "test",
                 "--limit", "3", "--concurrency", "2", "--out", str(out)])
    assert code == 0
    predictions, report = read_jsonl(out / "predictions.jsonl"), json.loads((out / "report.json").read_text())
    assert [p["id"] for p in predictions] == [r["id"] for r in split_rows(data)[:3]]
    for prediction in predictions:
        assert "error" not in prediction and prediction["latency_s"] > 0
        assert all(call["function"]["name"] in TOOLS for call in prediction["tool_calls"])
        tool_calls_to_plan_text(prediction["tool_calls"])  # the server's calls are plans over the catalog
    endpoint = report["summary"]["endpoint"]
    assert endpoint["model"] == "tiny-planner"  # found by GET /v1/models
    assert (endpoint["queries"], endpoint["answered"], endpoint["failed"]) == (3, 3, 0)
    assert 0 < endpoint["latency_p50_s"] <= endpoint["latency_p95_s"] <= endpoint["latency_max_s"]
    rescored = score_files(out / "gold.jsonl", out / "predictions.jsonl")
    assert report["results"] == rescored["results"] and report["summary"]["n"] == 3


def test_a_wrong_key_fails_every_query_with_its_reason_and_still_reports(served, data, tmp_path):
    out = tmp_path / "e"
    assert main(["eval", "--endpoint", served, "--api-key", "wrong", "--model", "tiny-planner", "--data", str(data),
                 "--limit", "2", "--out", str(out)]) == 0
    assert all(p["error"].startswith("HTTP 401") and p["plan"] == "" for p in read_jsonl(out / "predictions.jsonl"))
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["endpoint"]["failures"] == {"HTTP 401": 2} and summary["endpoint"]["latency_p50_s"] is None
    assert summary["success_rate"] == 0.0 and summary["errors"]["parse"] == 2


# --- a fake endpoint on loopback ----------------------------------------------------------------


def fake_endpoint(rows: list[dict]) -> tuple[FastAPI, dict[str, int]]:
    """Answers each query with its gold plan, but the 1st is answered 503 twice and the 2nd 429 once
    first, the 3rd too slowly, the 4th with garbage, and the 5th as plan text in `content`."""
    gold = {r["query"]: r["plan"] for r in rows}
    queries = [r["query"] for r in rows]
    calls: dict[str, int] = {}
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        assert [t["function"]["name"] for t in body["tools"]] == list(TOOLS)
        query = body["messages"][-1]["content"]
        calls[query] = calls.get(query, 0) + 1
        position = queries.index(query)
        if position == 0 and calls[query] <= 2:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if position == 1 and calls[query] == 1:
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "0"})
        if position == 2:
            await asyncio.sleep(3)
        if position == 3:
            return PlainTextResponse("<html>bad gateway</html>")
        if position == 4:
            return completion({"content": gold[query]})
        return completion({"content": None, "tool_calls": gold_calls(gold[query])})

    return app, calls


def test_retries_timeouts_garbage_and_text_plans_through_the_cli(data, tmp_path):
    rows = split_rows(data)
    app, calls = fake_endpoint(rows)
    out = tmp_path / "e"
    with live_server(app) as url:
        code = main(["eval", "--endpoint", f"{url}/v1/chat/completions", "--endpoint-model", "fake", "--data",
                     str(data), "--request-timeout", "1", "--concurrency", "3", "--out", str(out)])
    assert code == 0
    predictions = {p["id"]: p for p in read_jsonl(out / "predictions.jsonl")}
    ids = [r["id"] for r in rows]
    assert calls[rows[0]["query"]] == 3 and calls[rows[1]["query"]] == 2 and calls[rows[2]["query"]] == 1
    assert predictions[ids[2]]["error"] == "timed out after 1 s"
    assert predictions[ids[3]]["error"].startswith("answer is not JSON") and "bad gateway" in predictions[ids[3]]["error"]
    assert predictions[ids[4]]["plan"] == rows[4]["plan"] and "tool_calls" not in predictions[ids[4]]
    assert all("tool_calls" in predictions[i] for i in ids[:2] + ids[5:])
    report = json.loads((out / "report.json").read_text())
    verdicts = {r["id"]: r["success"] for r in report["results"]}
    assert verdicts == {i: i not in ids[2:4] for i in ids}
    endpoint = report["summary"]["endpoint"]
    assert endpoint["failed"] == 2 and endpoint["retries"] == 3 and endpoint["model"] == "fake"
    assert endpoint["failures"] == {"timed out after 1 s": 1, "answer is not JSON (JSONDecodeError)": 1}


# --- the client alone, on httpx's MockTransport -------------------------------------------------


def client(handler, **options) -> EndpointClient:
    sleeps: list[float] = []
    made = EndpointClient("http://fake/v1/chat/completions", "m", [], transport=httpx.MockTransport(handler),
                          sleep=sleeps.append, **options)
    made.sleeps = sleeps
    return made


def test_busy_answers_back_off_exponentially_then_give_up_with_the_status():
    statuses = iter([503, 429, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return httpx.Response(status, json=completion({"content": "1. join()"}) if status == 200 else {})

    busy = client(handler, backoff=0.5)
    answer = busy.plan("q")
    assert answer.error is None and answer.attempts == 4 and busy.sleeps == [0.5, 1.0, 2.0]
    assert answer.row == {"plan": "1. join()"}
    always = client(lambda request: httpx.Response(503, text="down"), max_retries=2)
    failed = always.plan("q")
    assert failed.error == "HTTP 503: down (after 3 attempts)" and failed.row == {"plan": "", "error": failed.error}


def test_other_errors_are_not_retried_and_a_timeout_spares_the_other_queries():
    def handler(request: httpx.Request) -> httpx.Response:
        query = json.loads(request.content)["messages"][0]["content"]
        if query == "slow":
            raise httpx.ReadTimeout("timed out", request=request)
        if query == "broken":
            return httpx.Response(500, text="internal error")
        return httpx.Response(200, json=completion({"tool_calls": gold_calls('1. get_phone_number("Kai")\n2. join()')}))

    answers = plan_all(client(handler, timeout=5), ["a", "slow", "broken", "b"], concurrency=2, progress=False)
    assert [a.error for a in answers] == [None, "timed out after 5 s", "HTTP 500: internal error", None]
    assert [a.attempts for a in answers] == [1, 1, 1, 1]
    assert answers[0].row["tool_calls"][0]["function"]["name"] == "get_phone_number"


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "answer is not JSON"),
    (b'{"choices": []}', "no choices[0].message"),
    (b'{"choices": [{"message": "hi"}]}', "not an object"),
    (b'{"choices": [{"message": {"tool_calls": {"a": 1}}}]}', "tool_calls is not a list"),
])
def test_garbage_answers_fail_with_their_reason(body, says):
    answer = client(lambda request: httpx.Response(200, content=body)).plan("q")
    assert says in answer.error and answer.row["plan"] == ""


def test_a_body_that_does_not_decode_fails_with_its_reason():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip"))

    answer = client(handler).plan("q")
    assert answer.error.startswith("bad answer: DecodingError") and answer.attempts == 1


def test_a_message_without_tool_calls_or_text_is_an_empty_plan():
    answer = client(lambda request: httpx.Response(200, json=completion({"content": None}))).plan("q")
    assert answer.error is None and answer.row == {"tool_calls": []}


def test_request_carries_the_model_tools_and_key():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("authorization"), json.loads(request.content)))
        return httpx.Response(200, json=completion({"content": "1. join()"}))

    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    EndpointClient("http://fake/v1/chat/completions", "gpt-x", tools, api_key="k",
                   transport=httpx.MockTransport(handler)).plan("hello")
    (authorization, body), = seen
    assert authorization == "Bearer k" and body["model"] == "gpt-x" and body["tools"] == tools
    assert body["messages"] == [{"role": "user", "content": "hello"}]


def test_served_model_comes_from_the_models_list_else_default():
    listed = httpx.MockTransport(lambda r: httpx.Response(200, json={"data": [{"id": "llama"}, {"id": "x"}]}))
    assert served_model("http://h/v1/chat/completions", None, 5, listed) == "llama"
    missing = httpx.MockTransport(lambda r: httpx.Response(404))
    assert served_model("http://h/v1/chat/completions", None, 5, missing) == "default"


def test_an_address_where_nothing_listens_is_a_one_line_error_before_any_query(data, tmp_path, capsys):
    from tests.serve_fixtures import free_port

    out = tmp_path / "e"
    assert main(["eval", "--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to" in err and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(("given", "url"), [
    ("http://h:8000/v1", "http://h:8000/v1/chat/completions"),
    ("http://h:8000/", "http://h:8000/v1/chat/completions"),
    ("https://api.x.com/openai/v1/chat/completions", "https://api.x.com/openai/v1/chat/completions"),
])
def test_endpoint_urls(given, url):
    assert chat_completions_url(given) == url


def test_percentile_is_nearest_rank():
    values = [0.4, 0.1, 0.3, 0.2] + [1.0] * 16
    assert percentile(values, 50) == 1.0 and percentile(values[:4], 50) == 0.2 and percentile([], 95) is None
    assert percentile(list(range(1, 101)), 95) == 95


@pytest.mark.parametrize("flags", [
    ["--endpoint", "ftp://h/v1"], ["--endpoint", "http://h/v1", "--concurrency", "0"],
    ["--endpoint", "http://h/v1", "--request-timeout", "0"], [],
])
def test_bad_flags_are_one_line_errors_and_write_nothing(data, tmp_path, capsys, flags):
    out = tmp_path / "e"
    assert main(["eval", *flags, "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not out.exists()
