"""Request and response bodies of the REST API (pydantic models; FastAPI derives the OpenAPI schema
from them, so the limits written here are the documented ones)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# A planner query is one request from a user; a few thousand characters is far beyond any real one
# and keeps the prompt (and the retriever's encoder) bounded.
MAX_QUERY_CHARS = 2_000
MAX_NEW_TOKENS = 1_024
MAX_EXAMPLES = 10
# planner_eval bounds the plans it reads at this size; scoring more is refused rather than cut.
MAX_PLAN_CHARS = 100_000

# Names are checked against the served catalog when the request is planned (an unknown one is a 400).
MAX_REQUEST_TOOLS = 64
ToolName = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
Query = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S", description="the user's request")


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Query
    max_new_tokens: int | None = Field(
        None, ge=1, le=MAX_NEW_TOKENS, description="generation budget; the server's default when absent"
    )
    tools: list[Annotated[str, ToolName] | dict[str, Any]] | None = Field(
        None, min_length=1, max_length=MAX_REQUEST_TOOLS,
        description="restrict the plan to these tools: catalog names (the retriever chooses among them), or "
        "OpenAI function schemas, which may describe tools the planner never saw (the plan then uses exactly "
        "the given tools)",
    )
    examples: int | None = Field(
        None, ge=0, le=MAX_EXAMPLES, description="in-context examples (k); the checkpoint's setting when absent"
    )


class Step(BaseModel):
    id: int = Field(description="the action's number in the plan")
    tool: str
    args: dict[str, Any] = Field(description='arguments keyed by the catalog\'s names; "$N" is the output of action N')
    depends_on: list[int] = Field(description="ids of the actions whose outputs this one uses")


class ExampleRef(BaseModel):
    id: str = Field(description="the training record's id")
    query: str
    score: float = Field(description="cosine similarity to the request's query")


class PlanResponse(BaseModel):
    plan: str = Field(description="the plan text (LLMCompiler format)")
    steps: list[Step]
    tools: list[str] = Field(description="the tools put in the prompt")
    examples: list[ExampleRef] = Field(description="the in-context examples put in the prompt")
    latency_ms: float = Field(description="time from the request's arrival to its answer, queueing included")
    valid: bool = Field(description="the plan parses into a DAG over known tools")


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gold: str = Field(min_length=1, max_length=MAX_PLAN_CHARS, description="the reference plan text")
    pred: str = Field(max_length=MAX_PLAN_CHARS, description="the predicted plan text")
    args: Literal["normalized", "strict", "ignore"] = Field("normalized", description="how arguments are compared")


class ScoreResponse(BaseModel):
    success: bool
    tool_set_match: bool
    error: str | None
    detail: str | None
    tool_precision: float | None
    tool_recall: float | None
    tool_f1: float | None
    edge_f1: float | None
    length_error: int | None


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error, in OpenAI's shape so that its clients show the message."""

    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    queued: int = Field(description="requests waiting for the model")


# --- OpenAI-compatible view -------------------------------------------------------------------

class FunctionSchema(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolSchema(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"]
    function: FunctionSchema


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    # Clients send fields this server has no use for (name, tool_call_id, tool_calls, ...).
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class ChatCompletionRequest(BaseModel):
    # Sampling options (temperature, top_p, ...) are accepted and ignored: plans are decoded greedily.
    model_config = ConfigDict(extra="allow")

    model: str = Field(max_length=256, description="any name: one model is served")
    messages: list[ChatMessage] = Field(min_length=1, max_length=1_000)  # agents resend whole conversations
    tools: list[ToolSchema] | None = Field(
        None, max_length=MAX_REQUEST_TOOLS,
        description="restrict the planner to these tools; catalog tools are matched by name, others are planned "
        "from their schemas (the plan then uses exactly the given tools)",
    )
    max_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_NEW_TOKENS)
    stream: bool | None = Field(None, description="not supported: use POST /v1/plan/stream")


class FunctionCall(BaseModel):
    name: str
    arguments: str = Field(description="a JSON object keyed by the catalog's argument names")


class ToolCall(BaseModel):
    id: str = Field(description='"call_N" for action N')
    type: Literal["function"]
    function: FunctionCall


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[ToolCall] | None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["tool_calls", "stop", "length"]
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]
