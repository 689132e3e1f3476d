"""Reading finished runs back: the figures of a training run's `metrics.jsonl`, and a served planner
queried over HTTP. Shared by `tinyagent demo` and `tinyagent compare`, so both report the same way."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    """The JSON lines of a `metrics.jsonl`; a line cut short by a crash is skipped, not fatal."""
    lines = []
    for text in Path(path).read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return lines


def training_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "loss" in line]


def validation_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "eval_success_rate" in line]


def run_figures(lines: list[dict]) -> dict:
    """Figures of one run: final loss, steps, wall time, peak memory, best validation success."""
    train, valid = training_lines(lines), validation_lines(lines)
    peaks = [line[key] for line in lines for key in ("peak_rss_bytes",) if key in line]
    seconds = [line["train_seconds"] for line in lines if "train_seconds" in line]
    return {
        "steps": max((line["step"] for line in lines), default=0),
        "final_loss": train[-1]["loss"] if train else None,
        "train_seconds": max(seconds, default=0.0),
        "peak_rss_bytes": max(peaks, default=0),
        "best_eval_success_rate": max((v["eval_success_rate"] for v in valid), default=None),
        "last_eval_success_rate": valid[-1]["eval_success_rate"] if valid else None,
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def query_served_planner(checkpoint: Path, retriever: Path, queries: Sequence[str], log_path: Path,
                         start_timeout_s: float = 300.0) -> dict:
    """Start `tinyagent serve` on a free loopback port, POST each query to /v1/plan, stop the server.

    The server's own output goes to ``log_path``: a pipe nobody reads could fill and stall it."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "tinyagent_ft.cli", "serve", "--model", str(checkpoint),
               "--retriever", str(retriever), "--host", "127.0.0.1", "--port", str(port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w", encoding="utf-8")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(server, base, log_path, start_timeout_s)
        with httpx.Client(base_url=base, timeout=120.0) as client:
            responses = []
            for query in queries:
                reply = client.post("/v1/plan", json={"query": query})
                reply.raise_for_status()
                body = reply.json()
                responses.append({"query": query, "plan": body["plan"], "valid": body["valid"],
                                  "tools": body["tools"], "latency_ms": body["latency_ms"]})
        return {"url": base, "responses": responses}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_until_healthy(server: subprocess.Popen, base: str, log_path: Path, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise OSError(f"the server exited with code {server.returncode}: {' '.join(tail)} (log: {log_path})")
        try:
            if httpx.get(f"{base}/health", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise OSError(f"the server did not answer {base}/health within {timeout_s:.0f} s")
