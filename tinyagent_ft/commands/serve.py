"""`tinyagent serve`: the planner over REST (FastAPI under uvicorn)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import socket
import sys
from pathlib import Path

from serve.schemas import MAX_NEW_TOKENS
from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog

API_KEY_ENV = "TINYAGENT_API_KEY"


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a planner checkpoint over REST (plans, streamed plans, OpenAI chat completions)",
        description=(
            "Load the checkpoint and the retriever once and answer plans over HTTP. Prints "
            "'listening on http://HOST:PORT' when ready; --port 0 picks a free port and prints it. "
            "Ctrl-C stops it. OpenAPI docs at /docs."
        ),
    )
    serve.add_argument("--model", required=True, type=Path, help="planner checkpoint (tinyagent train --out)")
    serve.add_argument("--retriever", required=True, type=Path, help="retriever directory (tinyagent retriever train)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (0: a free one, printed at start)")
    serve.add_argument("--api-key", default=os.environ.get(API_KEY_ENV),
                       help=f"require 'Authorization: Bearer KEY' on every endpoint but /health (default: ${API_KEY_ENV}, else none)")
    serve.add_argument("--max-batch", type=int, default=8, help="most requests in one generate call (1: no batching)")
    serve.add_argument("--queue", type=int, default=64, help="most requests waiting; beyond it the answer is 503")
    serve.add_argument("--timeout", type=float, default=60.0, help="seconds before a request gets 504")
    serve.add_argument("--batch-window-ms", type=float, default=10.0, help="how long a batch waits for company")
    serve.add_argument("--max-new-tokens", type=int, default=None,
                       help="default generation budget of a request (default: the planner's, set at training; 256 for older planners)")
    serve.add_argument("--device", default="auto", help="torch device for the planner (auto: cuda, then mps, then cpu)")
    serve.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads (default: torch's choice); on a busy CPU 1 is often fastest for small models")
    add_tools_option(serve, default="the checkpoint's")
    serve.set_defaults(handler=run_serve)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; binding here (not in uvicorn) tells us the port that --port 0 got."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be in [0, 65535], got {port}")
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from retriever.embedder import SentenceEmbedder
    from serve.app import create_app
    from serve.engine import PlannerEngine
    from tinyagent_ft.planner import Planner

    if args.max_batch < 1 or args.queue < 1 or args.timeout <= 0 or args.batch_window_ms < 0:
        raise ValueError("--max-batch and --queue must be >= 1, --timeout > 0 and --batch-window-ms >= 0")
    if args.max_new_tokens is not None and not 1 <= args.max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"--max-new-tokens must be in [1, {MAX_NEW_TOKENS}]")
    if args.api_key is not None and not args.api_key.strip():
        raise ValueError("--api-key is empty")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError("--threads must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    command_catalog(args.tools, [args.model, args.retriever], decodable=True)  # a bad catalog fails before binding
    # Bound before loading, so that a taken port fails in a second rather than after the model loads.
    with bind(args.host, args.port) as sock:
        planner = Planner.load(args.model, args.retriever, device=args.device, tools=args.tools)
        if planner.retriever is not None and isinstance(planner.retriever.embedder, SentenceEmbedder):
            planner.retriever.embedder.load()  # requests may ask for examples: fail or load now, not at a request
        app = create_app(
            PlannerEngine(planner, model_name=args.model.resolve().name), api_key=args.api_key,
            max_batch=args.max_batch, queue_size=args.queue, batch_window_ms=args.batch_window_ms,
            timeout_s=args.timeout, default_max_new_tokens=args.max_new_tokens,
        )
        if args.api_key is None and not ipaddress.ip_address(sock.getsockname()[0]).is_loopback:
            print("tinyagent serve: warning: reachable beyond this machine without --api-key", file=sys.stderr)
        print(f"tinyagent serve: listening on {url(sock)} (docs at {url(sock)}/docs; Ctrl-C stops)", flush=True)
        # uvicorn handles Ctrl-C and SIGTERM itself: it finishes the requests in flight, then
        # re-raises the signal; for a server that is the ordinary way to stop, not a failure.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)).run(sockets=[sock])
    print("tinyagent serve: stopped", flush=True)
    return 0
