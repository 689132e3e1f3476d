"""The OpenAI chat-completions view of the planner: catalog -> function schemas, chat messages ->
query, plan steps -> `tool_calls`.

`call_N` is action N and a reference stays the string "$N", so a client runs call_N's function
and substitutes its result wherever "$N" appears. `join` is not a tool call.
"""

from __future__ import annotations

import json
from typing import Any

from planner_eval.catalog import Catalog, Tool
from planner_eval.catalog_io import CatalogError, from_openai_schemas, to_openai_schemas
from tinyagent_ft.grammar import grammar_problem
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


def chat_tools(request: ChatCompletionRequest, catalog: Catalog) -> tuple[list[str] | None, Catalog | None]:
    """The tools the request restricts the planner to (None: no restriction) and, when it brings tools
    the planner never saw, its own catalog (see `request_tools`). Some agent frameworks always send
    `tools`, empty when they have none: that restricts nothing."""
    if not request.tools:
        return None, None
    return request_tools([t.model_dump(exclude_none=True) for t in request.tools], catalog)


def request_tools(entries: list[Any], catalog: Catalog) -> tuple[list[str], Catalog | None]:
    """(names, the request's catalog or None) for a request's `tools`: catalog names, or OpenAI function
    schemas. A tool the planner was trained on is matched by name (its trained schema stays); one it never
    saw joins the served catalog in a catalog of the request's own, so that its prompt line and grammar
    come from its schema. A bare name outside the catalog is a BadChatRequest."""
    names: list[str] = []
    unseen: dict[str, Tool] = {}
    for entry in entries:
        function = entry.get("function", entry) if isinstance(entry, dict) else None
        if isinstance(entry, str) or (isinstance(function, dict) and "parameters" not in function
                                      and function.get("name") not in catalog):
            name = entry if isinstance(entry, str) else function.get("name")
            if name not in catalog:  # a name alone, with no schema to plan it from
                raise BadChatRequest(f"tool {name!r} is not in the planner's catalog (GET /v1/tools lists the "
                                     f"{len(catalog)} it knows); send its function schema with parameters to plan with it")
            names.append(name)
            continue
        try:
            [tool] = from_openai_schemas([entry]).values()
        except CatalogError as error:
            raise BadChatRequest(f"tools: {error}") from None
        if tool.name not in catalog:
            problem = grammar_problem(tool)
            if problem is not None:
                raise BadChatRequest(f"tools: {problem}")
            unseen[tool.name] = tool
        names.append(tool.name)
    names = list(dict.fromkeys(names))
    return names, ({**catalog, **unseen} if unseen else None)


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
