"""Request `tools` as OpenAI function schemas: tools the planner never saw are planned from their schemas
(prompt line and grammar), known ones are matched by name, and a bare unknown name stays a 400."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from catalog_fixtures import HOME_TOOLS
from planner_eval.plan import reference_id
from serve.app import create_app
from serve.engine import PlannerEngine
from tests.serve_fixtures import save_tiny_checkpoint, save_tiny_retriever

BUDGET = 200
SCHEMAS = {s["function"]["name"]: s for s in json.loads(HOME_TOOLS.read_text())}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    import torch

    from tinyagent_ft.planner import Planner

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("request-tools")
    planner = Planner.load(save_tiny_checkpoint(root / "ckpt"), save_tiny_retriever(root / "retriever"))
    with TestClient(create_app(PlannerEngine(planner, "tiny"), default_max_new_tokens=BUDGET)) as session:
        yield session
    torch.set_num_threads(threads)


def chat(client, tools, query="warm up the hall please"):
    return client.post("/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "user", "content": query}],
                                                      "tools": tools})


def test_a_tool_never_trained_on_is_called_with_values_its_schema_allows(client):
    response = chat(client, [SCHEMAS["set_thermostat"]])
    assert response.status_code == 200, response.text
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert calls and all(c["function"]["name"] == "set_thermostat" for c in calls)
    for number, call in enumerate(calls, start=1):
        args = json.loads(call["function"]["arguments"])
        assert set(args) <= {"device", "celsius", "mode"} and {"device", "celsius"} <= set(args)
        for name, value in args.items():
            ref = reference_id(value)
            if ref is not None:
                assert 1 <= ref < number
            elif name == "celsius":
                assert isinstance(value, (int, float)) and not isinstance(value, bool)
            elif name == "mode":
                assert value in ("heat", "cool", "auto")
            else:
                assert isinstance(value, str)


def test_a_tool_with_an_object_argument_is_called_with_objects_its_schema_allows(client):
    options = {"type": "object", "required": ["unit"], "properties": {
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"}}}
    schema = {"type": "function", "function": {"name": "get_forecast", "description": "the weather in a city", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "options": options}, "required": ["city", "options"]}}}
    response = chat(client, [schema], "the weather in Oslo in celsius")
    assert response.status_code == 200, response.text
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert calls and all(c["function"]["name"] == "get_forecast" for c in calls)
    for call in calls:
        value = json.loads(call["function"]["arguments"])["options"]
        if reference_id(value) is None:
            assert "unit" in value and set(value) <= {"unit", "days"}, value
            assert value["unit"] in ("celsius", "fahrenheit") or reference_id(value["unit"]) is not None, value


def test_request_tools_are_exactly_the_prompts_tools_known_ones_matched_by_name(client):
    body = client.post("/v1/plan", json={"query": "text Ava that the music is on",
                                         "tools": ["send_sms", SCHEMAS["play_music"]]}).json()
    assert body["tools"] == ["send_sms", "play_music"] and body["valid"], body
    assert body["steps"] and {s["tool"] for s in body["steps"]} <= {"send_sms", "play_music"}
    for step in body["steps"]:
        if step["tool"] == "play_music":
            assert set(step["args"]) == {"playlist", "volume", "shuffle"}
            assert step["args"]["volume"] in (10, 20, 50) or reference_id(step["args"]["volume"]) is not None


@pytest.mark.parametrize("tools, says", [
    ([{"type": "function", "function": {"name": "fax_bob"}}], "'fax_bob' is not in the planner's catalog"),
    ([{"type": "function", "function": {"name": "book", "parameters": {"type": "object", "properties": {
        "extra": {"description": "any value"}}}}}], "tool 'book', argument 'extra'"),
    ([{"type": "function", "function": {"name": "join", "parameters": {"type": "object", "properties": {}}}}], "reserved"),
])
def test_unusable_request_tools_are_400(client, tools, says):
    for response in (chat(client, tools), client.post("/v1/plan", json={"query": "hi", "tools": tools})):
        assert response.status_code == 400 and says in response.json()["error"]["message"], response.text


def test_a_bare_unknown_name_is_400_on_plan(client):
    response = client.post("/v1/plan", json={"query": "hi", "tools": ["fax_bob"]})
    assert response.status_code == 400 and "'fax_bob' is not in the planner's catalog" in response.json()["error"]["message"]
