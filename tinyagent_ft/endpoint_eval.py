"""Plan a split with any OpenAI-compatible chat-completions endpoint (`tinyagent serve`, vLLM, a
hosted model), for `tinyagent eval --endpoint`.

Each query goes out as the last user message with the catalog as OpenAI `tools`. An answer's
`tool_calls` are kept as they came, for planner_eval to read (`planner_eval.tool_calls`); an answer
with plan text in `content` instead is scored as that text. A query whose request times out, fails
or comes back as something other than a chat completion becomes a prediction with an empty plan
and its `error`, and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx

# What OpenAI's own client retries on, narrowed to the answers that mean "busy, come back later".
RETRY_STATUSES = frozenset({429, 503})
MAX_BACKOFF_S = 30.0


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """`--endpoint` and the options that only matter with it."""
    parser.add_argument("--endpoint", default=None, metavar="URL",
                        help="plan with this OpenAI-compatible chat-completions endpoint instead of a checkpoint: "
                             "a base URL such as http://127.0.0.1:8000/v1, or the full .../chat/completions URL")
    parser.add_argument("--api-key", default=None, metavar="KEY", help="with --endpoint: sent as 'Authorization: Bearer KEY'")
    parser.add_argument("--endpoint-model", default=None, metavar="NAME",
                        help="with --endpoint: the served model's name (--model means the same there; "
                             "unset: the endpoint's first model from GET .../models, else 'default')")
    parser.add_argument("--concurrency", type=int, default=4, help="with --endpoint: requests in flight at once")
    parser.add_argument("--request-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="with --endpoint: seconds one request may take before its query counts as failed")
    parser.add_argument("--max-retries", type=int, default=4,
                        help="with --endpoint: retries of a request answered 429 or 503 (or not connected), "
                             "with exponential backoff or the server's Retry-After")


def chat_completions_url(endpoint: str) -> str:
    """The chat-completions URL for a base URL as OpenAI clients take it (`.../v1`), a server root
    (`http://host:port`), or the full URL."""
    url = endpoint.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--endpoint {endpoint!r} is not an http(s) URL")
    if url.endswith("/chat/completions"):
        return url
    return f"{url}/chat/completions" if url.endswith("/v1") else f"{url}/v1/chat/completions"


@dataclass
class Answer:
    """One query's outcome: the prediction row for predictions.jsonl (without its id), the request's
    wall time including retries, and the failure reason when there is one."""

    row: dict[str, Any]
    seconds: float
    attempts: int
    error: str | None = None


@dataclass
class EndpointClient:
    """Sends one query at a time as a chat completion; safe to share between threads (httpx.Client is)."""

    url: str
    model: str
    tools: list[dict[str, Any]]
    api_key: str | None = None
    timeout: float = 120.0
    max_retries: int = 4
    backoff: float = 0.5
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._http = httpx.Client(headers=headers, timeout=self.timeout, transport=self.transport)

    def close(self) -> None:
        self._http.close()

    def plan(self, query: str) -> Answer:
        # temperature 0: greedy, as `tinyagent eval` decodes. tool_choice is left to the server's default
        # ("auto" in OpenAI's API when tools are given) rather than asking for what it may not support.
        body = {"model": self.model, "messages": [{"role": "user", "content": query}], "tools": self.tools,
                "temperature": 0}
        start = time.perf_counter()
        attempts = 0
        while True:
            attempts += 1
            response, error, retry_after = self._post(body)
            if retry_after is None or attempts > self.max_retries:
                break
            self.sleep(retry_after if retry_after >= 0 else min(MAX_BACKOFF_S, self.backoff * 2 ** (attempts - 1)))
        seconds = time.perf_counter() - start
        if error is None:
            try:
                return Answer(answer_row(response), seconds, attempts)
            except ValueError as exc:
                error = str(exc)
        elif attempts > 1:
            error = f"{error} (after {attempts} attempts)"
        return Answer({"plan": "", "error": error}, seconds, attempts, error)

    def _post(self, body: dict) -> tuple[httpx.Response | None, str | None, float | None]:
        """(response, failure reason, retry delay): a delay of -1 means back off exponentially, None
        means do not retry."""
        try:
            response = self._http.post(self.url, json=body)
        except httpx.TimeoutException:
            return None, f"timed out after {self.timeout:g} s", None
        except httpx.TransportError as exc:
            return None, f"request failed: {exc.__class__.__name__}: {exc}", -1
        except httpx.HTTPError as exc:  # e.g. a body that does not decode as its Content-Encoding says
            return None, f"bad answer: {exc.__class__.__name__}: {exc}", None
        if response.status_code in RETRY_STATUSES:
            reason = f"HTTP {response.status_code}: {_snippet(response.text)}"
            return response, reason, _retry_after(response)
        if response.status_code != 200:
            return response, f"HTTP {response.status_code}: {_snippet(response.text)}", None
        return response, None, None


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(MAX_BACKOFF_S, max(0.0, float(response.headers["retry-after"])))
    except (KeyError, ValueError):
        return -1


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def answer_row(response: httpx.Response) -> dict[str, Any]:
    """The prediction for a 200 answer: its `tool_calls` as they came, or its `content` as plan
    text. Raises ValueError (the failure reason) when the answer is not a chat completion."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"answer is not JSON ({exc.__class__.__name__}): {_snippet(response.text)}") from None
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"answer has no choices[0].message: {_snippet(response.text)}") from None
    if not isinstance(message, dict):
        raise ValueError(f"choices[0].message is not an object: {_snippet(response.text)}")
    calls, content = message.get("tool_calls"), message.get("content")
    if calls:
        if not isinstance(calls, list):
            raise ValueError(f"choices[0].message.tool_calls is not a list: {_snippet(json.dumps(calls))}")
        return {"tool_calls": calls}
    if isinstance(content, str) and content.strip():
        return {"plan": content}
    return {"tool_calls": []}  # the model chose to call no tool: an empty plan, scored as such


def plan_all(client: EndpointClient, queries: Sequence[str], concurrency: int, progress: bool = True) -> list[Answer]:
    """Answers in query order, at most ``concurrency`` requests in flight."""
    from tqdm.auto import tqdm

    if concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    pool = ThreadPoolExecutor(max_workers=concurrency)
    futures = [pool.submit(client.plan, query) for query in queries]
    try:
        # The bar counts answers as they come, not in query order, so one slow query does not stall it.
        for _ in tqdm(as_completed(futures), total=len(futures), desc="endpoint", unit="query", disable=not progress):
            pass
    finally:
        pool.shutdown(cancel_futures=True)  # Ctrl-C stops at the requests in flight
    return [future.result() for future in futures]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def endpoint_stats(client: EndpointClient, answers: Sequence[Answer], concurrency: int, seconds: float) -> dict:
    """The report's `endpoint` entry: where the plans came from, latencies of the answered queries
    (retries included), and the failures by reason."""
    answered = [a.seconds for a in answers if a.error is None]
    reasons = Counter(a.error.split(":")[0] for a in answers if a.error is not None)
    return {
        "url": client.url, "model": client.model, "queries": len(answers), "answered": len(answered),
        "failed": len(answers) - len(answered), "failures": dict(reasons), "concurrency": concurrency,
        "retries": sum(a.attempts - 1 for a in answers), "seconds": round(seconds, 3),
        "queries_per_second": round(len(answers) / seconds, 3) if seconds > 0 else None,
        "latency_p50_s": _rounded(percentile(answered, 50)), "latency_p95_s": _rounded(percentile(answered, 95)),
        "latency_max_s": _rounded(max(answered, default=None)),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def served_model(url: str, api_key: str | None, timeout: float, transport: httpx.BaseTransport | None = None) -> str:
    """The endpoint's first listed model (GET .../models), else "default" (some servers list none).
    Raises ValueError when nothing answers at that address, before any query is sent."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    models_url = url.removesuffix("/chat/completions") + "/models"
    try:
        with httpx.Client(headers=headers, timeout=timeout, transport=transport) as http:
            return str(http.get(models_url).raise_for_status().json()["data"][0]["id"])
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ValueError(f"cannot connect to {models_url}: {exc}") from None
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
        return "default"


def run_endpoint_eval(args: argparse.Namespace) -> int:
    """`tinyagent eval --endpoint`: plan the split with the endpoint, then score and write as eval does."""
    from planner_eval.catalog_io import to_openai_schemas
    from tinyagent_ft.commands.baseline import load_rows, write_scored
    from tinyagent_ft.commands.catalog_option import command_catalog

    if args.concurrency < 1 or args.max_retries < 0 or not args.request_timeout > 0:
        raise ValueError("--concurrency must be at least 1, --max-retries at least 0 and --request-timeout above 0")
    url = chat_completions_url(args.endpoint)
    catalog = command_catalog(args.tools)
    rows = load_rows(args.data, args.split, args.limit, catalog)
    listed = served_model(url, args.api_key, args.request_timeout)  # also fails fast where nothing listens
    model = args.endpoint_model or args.model or listed
    client = EndpointClient(url, model, to_openai_schemas(catalog), args.api_key, args.request_timeout,
                            args.max_retries)
    start = time.perf_counter()
    try:
        answers = plan_all(client, list(rows["query"]), args.concurrency)
    finally:
        client.close()
    stats = endpoint_stats(client, answers, args.concurrency, time.perf_counter() - start)
    predictions = [{**a.row, "latency_s": round(a.seconds, 4)} for a in answers]
    write_scored(args.out, rows["id"], rows["plan"], predictions, args.args_mode, {"endpoint": stats}, catalog,
                 queries=rows["query"], html=args.html)
    print(f"{stats['answered']}/{stats['queries']} answered by {url} ({stats['failed']} failed), "
          f"latency p50 {stats['latency_p50_s']} s, p95 {stats['latency_p95_s']} s")
    return 0
