"""The OpenAI chat-completions view of the planner: catalog -> function schemas, chat messages ->
query, plan steps -> `tool_calls`.

`call_N` is action N and a reference stays the string "$N", so a client runs call_N's function
and substitutes its result wherever "$N" appears. `join` is not a tool call.
"""

from __future__ import annotations

import json
from typing import Any

from planner_eval.catalog import Catalog
from planner_eval.catalog_io import to_openai_schemas
from serve.schemas import MAX_QUERY_CHARS, ChatCompletionRequest, ChatMessage

class BadChatRequest(ValueError):
    """A chat request the planner cannot answer; the message says why, for a 400."""


def catalog_schemas(catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """The served catalog (the built-in one by default) as OpenAI function schemas
    (`{"type": "function", "function": {...}}`)."""
    return to_openai_schemas(catalog)


def _text(message: ChatMessage) -> str:
    if isinstance(message.content, list):
        return "\n".join(part.text for part in message.content if part.type == "text" and part.text)
    return message.content or ""


def chat_query(request: ChatCompletionRequest) -> str:
    """The planner's query: the last user message."""
    users = [m for m in request.messages if m.role == "user"]
    if not users:
        raise BadChatRequest("messages hold no user message: the last one is the planner's query")
    query = _text(users[-1]).strip()
    if not query:
        raise BadChatRequest("the last user message is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise BadChatRequest(f"the last user message is longer than {MAX_QUERY_CHARS} characters")
    return query


def chat_tools(request: ChatCompletionRequest, catalog: Catalog) -> list[str] | None:
    """Catalog names the request restricts the planner to (None: no restriction). Some agent
    frameworks always send `tools`, empty when they have none: that restricts nothing."""
    if not request.tools:
        return None
    names = list(dict.fromkeys(t.function.name for t in request.tools))
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise BadChatRequest(
            f"tool {unknown[0]!r} is not in the planner's catalog (GET /v1/tools lists the {len(catalog)} it knows)"
        )
    return names


def check_chat_options(request: ChatCompletionRequest) -> None:
    if request.stream:
        raise BadChatRequest("stream=true is not supported here; POST /v1/plan/stream streams plan steps as events")


def tool_calls(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{s['id']}",
            "type": "function",
            "function": {"name": s["tool"], "arguments": json.dumps(s["args"], ensure_ascii=False)},
        }
        for s in steps
    ]
