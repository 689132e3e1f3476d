"""The planner's REST API: `create_app(engine, ...)` builds it around a loaded planner (tests inject
a tiny one); `tinyagent serve` runs it under uvicorn.

Every error is JSON in OpenAI's shape, `{"error": {"message", "type", "code"}}`, and every status
the API can answer is declared in the OpenAPI schema (`/docs`). The model's output is only parsed,
never executed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException

from planner_eval.catalog import default_catalog
from planner_eval.score import score_plan
from serve import openai_compat
from serve.auth import Unauthorized, bearer, require_key
from serve.batching import Batcher, Closed, QueueFull, RequestTimeout
from serve.engine import PlanJob, PlannerEngine, PlanOutcome, PlanRejected
from serve.playground import playground
from serve.schemas import (
    MAX_NEW_TOKENS,
    ChatCompletion,
    ChatCompletionRequest,
    ErrorResponse,
    Health,
    ModelList,
    PlanRequest,
    PlanResponse,
    ScoreRequest,
    ScoreResponse,
)
from serve.steps import StepStream, analyse_plan, plan_steps

# Bodies are a query and a few options (or two plans to score); anything far larger is refused
# before it is read, so a client cannot make the server buffer megabytes.
MAX_BODY_BYTES = 256 * 1024


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": str(status)}}, status, headers=headers)


def _declared(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "bad input: not JSON, a missing or wrongly typed field, a value out of bounds, an unknown tool, "
             "a query too long for the model's context or a max_new_tokens too small for the chosen tools",
        401: "the server has an API key and the request lacks `Authorization: Bearer KEY`",
        411: "a POST body without Content-Length",
        413: f"a body over {MAX_BODY_BYTES} bytes",
        503: "the request queue is full (see Retry-After), or the server is shutting down",
        504: "the request was not answered within the server's timeout",
    }
    declared: dict[int | str, dict[str, Any]] = {s: {"model": ErrorResponse, "description": descriptions[s]} for s in statuses}
    if 503 in declared:
        declared[503]["headers"] = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
    return declared


_PROTECTED = _declared(401)
_BODY = _declared(400, 401, 411, 413)
_MODEL = _declared(400, 401, 411, 413, 503, 504)


class _BodyLimit:
    """Refuses POST bodies that are oversized or of unknown length before the app reads them."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            length = dict(scope["headers"]).get(b"content-length")
            if length is None or not length.isdigit():
                return await _error(411, "send the body with a Content-Length header", "invalid_request_error")(scope, receive, send)
            if int(length) > self.max_bytes:
                return await _error(413, f"the body is over {self.max_bytes} bytes", "invalid_request_error")(scope, receive, send)
        await self.app(scope, receive, send)


def _validation_message(error: RequestValidationError) -> str:
    problems = []
    for item in error.errors():
        if item.get("type") == "json_invalid":
            return f"the body is not valid JSON ({item.get('ctx', {}).get('error', 'cannot be decoded')})"
        if item.get("type") == "missing" and tuple(item.get("loc", ())) == ("body",):
            return 'the body is empty; send a JSON object such as {"query": "..."}'
        where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "body"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(problems[:5]) or "invalid request"


def create_app(
    engine: PlannerEngine,
    *,
    api_key: str | None = None,
    max_batch: int = 8,
    queue_size: int = 64,
    batch_window_ms: float = 10.0,
    timeout_s: float = 60.0,
    default_max_new_tokens: int | None = None,
) -> FastAPI:
    if default_max_new_tokens is None:
        default_max_new_tokens = engine.default_max_new_tokens
    if not 1 <= default_max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"the default max_new_tokens must be in [1, {MAX_NEW_TOKENS}]")
    batcher: Batcher[PlanJob, PlanOutcome] = Batcher(
        engine.plan_batch, max_batch=max_batch, queue_size=queue_size, window_s=batch_window_ms / 1000, timeout_s=timeout_s,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.close()

    app = FastAPI(
        title="tinyagent planner",
        version="1",
        summary="LLMCompiler-style function-calling plans from a fine-tuned small language model",
        lifespan=lifespan,
    )
    # The served catalog: the planner's (an engine that names none serves the built-in tools).
    catalog = getattr(engine, "catalog", None) or default_catalog()
    app.state.api_key = api_key
    app.state.batcher = batcher
    app.add_middleware(_BodyLimit)
    created = int(time.time())

    def job(query: str, max_new_tokens: int | None, tools: list[Any] | None = None, examples: int | None = None,
            own: Any = None) -> PlanJob:
        if tools is not None and own is None:
            tools, own = openai_compat.request_tools(tools, catalog)
        restrict = None if tools is None else tuple(dict.fromkeys(tools))  # a repeated name would repeat in the prompt
        return PlanJob(query, max_new_tokens or default_max_new_tokens, restrict, examples, own)

    def plan_body(outcome: PlanOutcome, started: float) -> dict[str, Any]:
        written_in = outcome.catalog or catalog
        actions, valid = analyse_plan(outcome.plan, written_in)
        return {
            "plan": outcome.plan, "steps": plan_steps(actions, written_in), "tools": outcome.tools, "examples": outcome.examples,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1), "valid": valid,
        }

    async def authorized(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        require_key(request, credentials)

    guarded = [Depends(authorized)]

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness: 200 once the model is loaded (no API key needed)."""
        return {"status": "ok", "model": engine.model_name, "queued": batcher.queued}

    @app.get("/", include_in_schema=False)
    async def playground_page() -> HTMLResponse:
        """The playground, a static page open without a key like /health; the key typed into it
        goes with its own calls to /v1/..., which stay guarded."""
        page, headers = playground(api_key is not None)
        return HTMLResponse(page, headers=headers)

    @app.get("/v1/tools", dependencies=guarded, responses=_PROTECTED, tags=["planner"])
    async def tools() -> list[dict[str, Any]]:
        """The served catalog (the checkpoint's) as OpenAI function schemas (the format `planner_eval --tools` reads)."""
        return openai_compat.catalog_schemas(catalog)

    @app.post("/v1/plan", response_model=PlanResponse, dependencies=guarded, responses=_MODEL, tags=["planner"])
    async def plan(body: PlanRequest) -> dict[str, Any]:
        """A plan for one query. Concurrent requests are batched into one generate call."""
        started = time.perf_counter()
        outcome = await batcher.submit(job(body.query, body.max_new_tokens, body.tools, body.examples))
        return plan_body(outcome, started)

    @app.post(
        "/v1/plan/stream", dependencies=guarded, tags=["planner"], response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": (
            "server-sent events: `step` (data: one step's JSON) as soon as each action's line is complete, "
            "then `done` (data: the /v1/plan response), or `error` (data: an error object)")}, **_MODEL},
    )
    async def plan_stream(body: PlanRequest) -> StreamingResponse:
        """The plan as server-sent events, so that a client can start running early steps at once.
        Streamed requests take their turn on the model alone (unbatched)."""
        started = time.perf_counter()
        loop, chunks, accepted = asyncio.get_running_loop(), asyncio.Queue(), asyncio.Event()
        work = job(body.query, body.max_new_tokens, body.tools, body.examples)
        future = await batcher.submit_alone(lambda: engine.plan_stream(
            work, lambda text: loop.call_soon_threadsafe(chunks.put_nowait, text),
            lambda: loop.call_soon_threadsafe(accepted.set),
        ))
        future.add_done_callback(lambda _: chunks.put_nowait(None))
        # A refused request (prompt too long, budget too small) must still get its 400, so the
        # 200 of the event stream waits until generation has begun.
        waiter = asyncio.ensure_future(accepted.wait())
        await asyncio.wait({future, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if future.done() and future.exception() is not None:
            raise future.exception()
        return StreamingResponse(
            _events(chunks, future, lambda outcome: plan_body(outcome, started), work.catalog or catalog),
            media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=guarded, responses=_BODY, tags=["evaluator"])
    def score(body: ScoreRequest) -> dict[str, Any]:
        """planner_eval's verdict on one predicted plan against a gold plan."""
        # The built-in catalog scores as it always has; another one also checks argument types.
        given = None if catalog is default_catalog() else catalog
        return score_plan(body.gold, body.pred, body.args, catalog=given).as_dict()

    @app.get("/v1/models", response_model=ModelList, dependencies=guarded, responses=_PROTECTED, tags=["openai"])
    async def models() -> dict[str, Any]:
        """The one model served (any `model` name is accepted by chat completions)."""
        return {"object": "list", "data": [{"id": engine.model_name, "object": "model", "created": created, "owned_by": "tinyagent"}]}

    @app.post("/v1/chat/completions", response_model=ChatCompletion, dependencies=guarded, responses=_MODEL,
              tags=["openai"])
    async def chat_completions(body: ChatCompletionRequest) -> dict[str, Any]:
        """OpenAI chat completions: the last user message is the query, the plan's actions come back
        as `tool_calls` (`call_N` is action N; a `"$N"` argument is call_N's result)."""
        openai_compat.check_chat_options(body)
        query, (tools, own) = openai_compat.chat_query(body), openai_compat.chat_tools(body, catalog)
        outcome = await batcher.submit(job(query, body.max_completion_tokens or body.max_tokens, tools, own=own))
        return _chat_completion(body.model, outcome, outcome.catalog or catalog)

    _install_error_handlers(app)
    _declare_errors_in_openapi(app)
    return app


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _events(chunks: asyncio.Queue, future: asyncio.Future, respond, catalog) -> AsyncIterator[str]:
    steps = StepStream(catalog)
    while (text := await chunks.get()) is not None:
        for step in steps.feed(text):
            yield _sse("step", step)
    try:
        outcome = future.result()
    except Exception as error:  # noqa: BLE001 - reported in the stream: the 200 status is already sent
        yield _sse("error", {"error": {"message": f"generation failed: {error}", "type": "server_error", "code": "500"}})
        return
    for step in steps.close():
        yield _sse("step", step)
    yield _sse("done", respond(outcome))


def _chat_completion(model: str, outcome: PlanOutcome, catalog=None) -> dict[str, Any]:
    actions, _ = analyse_plan(outcome.plan, catalog)
    calls = openai_compat.tool_calls(plan_steps(actions, catalog))
    # A plan with no action (only join) has nothing to call: its text is the answer.
    message = {"role": "assistant", "content": None if calls else outcome.plan, "tool_calls": calls or None}
    usage = {
        "prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop", "logprobs": None}],
        "usage": usage,
    }


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return _error(400, _validation_message(error), "invalid_request_error")

    @app.exception_handler(openai_compat.BadChatRequest)
    async def bad_chat(_: Request, error: openai_compat.BadChatRequest) -> JSONResponse:
        return _error(400, str(error), "invalid_request_error")

    @app.exception_handler(PlanRejected)
    async def rejected(_: Request, error: PlanRejected) -> JSONResponse:
        return _error(400, str(error), "invalid_request_error")

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, __: Unauthorized) -> JSONResponse:
        return _error(401, "missing or wrong API key: send Authorization: Bearer KEY", "authentication_error",
                      {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(QueueFull)
    async def full(_: Request, error: QueueFull) -> JSONResponse:
        return _error(503, str(error), "overloaded", {"Retry-After": str(error.retry_after)})

    @app.exception_handler(Closed)
    async def closed(_: Request, error: Closed) -> JSONResponse:
        return _error(503, str(error), "unavailable", {"Retry-After": "5"})

    @app.exception_handler(RequestTimeout)
    async def timeout(request: Request, _: RequestTimeout) -> JSONResponse:
        seconds = request.app.state.batcher.timeout_s
        return _error(504, f"no plan within the server's {seconds:g} s timeout; retry, perhaps with fewer max_new_tokens",
                      "timeout")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # A bug, not the client's fault: say so without internals; uvicorn logs the traceback.
        return _error(500, f"internal error ({type(error).__name__}); the server keeps serving", "server_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), "invalid_request_error", getattr(error, "headers", None))


def _declare_errors_in_openapi(app: FastAPI) -> None:
    """FastAPI documents its default 422 for every body; this API answers bad input with 400."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
