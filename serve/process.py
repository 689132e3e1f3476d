"""`tinyagent serve` as a child process, for scripts that need a live server (the demo, the load
benchmark, tests): started on a free loopback port, its URL read from the line it prints when
ready, stopped with Ctrl-C (SIGINT) as a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_READY = re.compile(r"listening on (http://\S+)")
ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def served(model: str | Path, retriever: str | Path, *options: str, stop_timeout: float = 60.0) -> Iterator[str]:
    """Yields the URL of `tinyagent serve --model MODEL --retriever RDIR --port 0 OPTIONS...` once the
    planner is loaded, then stops it; raises RuntimeError when it fails to start or to stop cleanly."""
    command = [sys.executable, "-m", "tinyagent_ft.cli", "serve", "--model", str(model), "--retriever", str(retriever),
               "--port", "0", *options]
    # The checkout's packages, also where the project is not installed (python benchmarks/...).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # stderr goes to a file: a pipe nobody reads while the server runs could fill up and block it.
    with tempfile.TemporaryFile("w+") as errors:
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        try:
            line = server.stdout.readline()  # printed once the model is loaded and the port is listening
            ready = _READY.search(line)
            if ready is None:
                server.wait(stop_timeout)
                errors.seek(0)
                last = (errors.read().strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"tinyagent serve exited with {server.returncode}: {last}")
            yield ready.group(1)
        except BaseException:
            _stop(server, stop_timeout)
            raise
        code = _stop(server, stop_timeout)
        if code != 0:
            raise RuntimeError(f"tinyagent serve did not stop cleanly on Ctrl-C (exit status {code})")


def _stop(server: subprocess.Popen, timeout: float) -> int:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    server.stdout.close()
    return server.returncode
