"""The playground page at `/`: static, open without a key, self-contained; the API stays guarded.
(tests/test_pages_in_browser.py drives it in Chromium.)"""

from __future__ import annotations

import re

import httpx
import pytest

from serve.app import create_app
from tests.page_fixtures import FAN_IN_PLAN, ScriptedEngine
from tests.serve_fixtures import live_server

KEY = "k3y"


@pytest.fixture(scope="module")
def urls():
    engine = ScriptedEngine(FAN_IN_PLAN, ["get_email_address"], pause_s=0)
    with live_server(create_app(engine, api_key=KEY)) as keyed, live_server(create_app(engine)) as open_url:
        yield keyed, open_url


def test_the_page_is_open_without_a_key_while_the_api_stays_guarded(urls):
    keyed, _ = urls
    page = httpx.get(f"{keyed}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-key-required="true"' in page.text
    assert httpx.post(f"{keyed}/v1/plan/stream", json={"query": "hi"}).status_code == 401
    assert httpx.post(f"{keyed}/v1/plan/stream", json={"query": "hi"}, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_the_key_field_is_hidden_when_the_server_has_no_key(urls):
    _, open_url = urls
    assert 'data-key-required="false"' in httpx.get(f"{open_url}/").text


def test_the_page_is_self_contained_and_runs_only_its_own_script(urls):
    keyed, _ = urls
    response = httpx.get(f"{keyed}/")
    page, policy = response.text, response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1]
    assert page.count("<script>") == 1 and "const PlanGraph" in page and "/*" + "SCRIPT*/" not in page
    assert not re.search(r"<[^>]*\bsrc\s*=", page) and re.findall(r'href="([^"]*)"', page) == ["data:,"]
    assert set(re.findall(r"https?://[^\s\"'<>)`]+", page)) <= {"http://www.w3.org/2000/svg"}
    # Only the server's own endpoints are called.
    assert set(re.findall(r'fetch\("([^"]+)"', page)) == {"/health", "/v1/plan/stream"}


def test_the_page_is_not_part_of_the_api_schema(urls):
    keyed, _ = urls
    paths = httpx.get(f"{keyed}/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()["paths"]
    assert "/" not in paths and "/v1/plan/stream" in paths
