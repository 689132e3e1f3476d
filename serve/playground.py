"""The playground page the server answers at `/`: a query box, the plan's graph growing as
`/v1/plan/stream` sends each step, what the retriever chose, the `tool_calls` and the latency.

The page is static and self-contained (`static/playground.html` and `.js`, with planner_eval's plan
renderer inlined), so it works offline and is open without a key, like `/health`; the key a user
types goes with its own calls to `/v1/...`, which stay guarded. Its Content-Security-Policy lets
it talk to this server only and run only its own script.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib.resources import files

from planner_eval.plan_graph import plan_graph_css, plan_graph_js


def _static(name: str) -> str:
    return files("serve").joinpath("static", name).read_text(encoding="utf-8")


@cache
def playground(key_required: bool) -> tuple[str, dict[str, str]]:
    """(the page, its response headers); `key_required` shows the API-key field."""
    script = plan_graph_js() + _static("playground.js")
    page = (
        _static("playground.html")
        .replace("/*PLAN_GRAPH_CSS*/", plan_graph_css())
        .replace("/*KEY_REQUIRED*/", "true" if key_required else "false")
        .replace("/*SCRIPT*/", script)
    )
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (
        "default-src 'none'; connect-src 'self'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page, {"Content-Security-Policy": policy, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
