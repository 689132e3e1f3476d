"""Load benchmark of `tinyagent serve`: the real server on loopback, N concurrent clients for a bounded
time, with dynamic batching and without (`--max-batch 1`), on the same checkpoint and queries.

    python benchmarks/serve_load.py [--model CKPT --retriever RDIR] [--clients 8] [--duration 30]

Without --model/--retriever it saves a tiny random planner and retriever (the test fixtures) in a
temporary directory. Each client sends POST /v1/plan in a closed loop (the next request when the
last is answered), cycling through the same queries; prints JSON with requests/s and p50/p95
latency per setting, and the batched/unbatched throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: `python benchmarks/serve_load.py`

from serve.process import served  # noqa: E402
QUERIES = [
    "text Ben that I am running late",
    "email Ava the slides about the launch",
    "remind me to pay rent tomorrow at 9am",
    "directions from the office to the airport by car",
    "summarize report.pdf and email it to Lars",
    "make a note about lunch plans",
    "set up a zoom call with Chloe on Friday at 3pm",
    "put the team offsite on my calendar next Monday",
]


def server_options(max_batch: int, args: argparse.Namespace) -> list[str]:
    options = ["--max-batch", str(max_batch), "--max-new-tokens", str(args.max_new_tokens),
               "--batch-window-ms", str(args.batch_window_ms), "--queue", "256", "--timeout", "300"]
    return options + (["--threads", str(args.threads)] if args.threads is not None else [])


def client_loop(url: str, offset: int, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=300) as client:
        i = offset
        while time.perf_counter() < stop_at:
            begin = time.perf_counter()
            response = client.post("/v1/plan", json={"query": QUERIES[i % len(QUERIES)]})
            if response.status_code == 200:
                latencies.append(time.perf_counter() - begin)
            else:
                errors.append(response.status_code)
            i += 1


def measure(url: str, clients: int, duration: float) -> dict:
    latencies: list[float] = []
    errors: list[int] = []
    # Warm-up: the first requests compile grammars and fill caches.
    with httpx.Client(base_url=url, timeout=300) as client:
        for query in QUERIES:
            client.post("/v1/plan", json={"query": query})
    begin = time.perf_counter()
    stop_at = begin + duration
    threads = [threading.Thread(target=client_loop, args=(url, c, stop_at, latencies, errors)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin  # includes the requests still in flight at the deadline
    ordered = sorted(latencies)
    return {
        "requests": len(latencies), "errors": len(errors), "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 3),
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1) if ordered else None,
    }


def tiny_planner(directory: Path) -> tuple[Path, Path]:
    from tests.serve_fixtures import save_tiny_checkpoint, save_tiny_retriever

    return save_tiny_checkpoint(directory / "ckpt"), save_tiny_retriever(directory / "retriever")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="planner checkpoint (default: a tiny random one)")
    parser.add_argument("--retriever", type=Path, help="retriever directory (default: a tiny random one)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per setting")
    parser.add_argument("--max-batch", type=int, default=8, help="the batched setting's --max-batch")
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--batch-window-ms", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=None, help="the server's --threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if (args.model is None) != (args.retriever is None):
        parser.error("give both --model and --retriever, or neither")

    with tempfile.TemporaryDirectory() as scratch:
        model, retriever = (args.model, args.retriever) if args.model else tiny_planner(Path(scratch))
        results = {}
        for name, max_batch in (("unbatched", 1), ("batched", args.max_batch)):
            with served(model, retriever, *server_options(max_batch, args)) as url:
                results[name] = {"max_batch": max_batch, **measure(url, args.clients, args.duration)}
            print(f"{name}: {results[name]}", file=sys.stderr)
    report = {
        "clients": args.clients, "duration_s": args.duration, "max_new_tokens": args.max_new_tokens,
        "batch_window_ms": args.batch_window_ms, "threads": args.threads, "model": str(args.model or "tiny random (tests/serve_fixtures.py)"),
        **results,
        "speedup_requests_per_s": round(results["batched"]["requests_per_s"] / max(results["unbatched"]["requests_per_s"], 1e-9), 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
