"""A tiny planner checkpoint and retriever on disk, and the real server on a free loopback port,
for the server tests and the load benchmark (random weights: fast, and all the server needs)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tinyagent_ft.models import TinyShape

SHAPE = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, vocab_size=400)


def _records(n: int = 60, seed: int = 3):
    from tinyagent_ft.data import generate_splits

    return generate_splits(n, 0, 0, seed=seed)["train"]


def _rows(records) -> list[dict]:
    import tempfile

    from tinyagent_ft.data import SPLIT_FILES, load_split, write_tinyagent_file

    with tempfile.TemporaryDirectory() as tmp:
        write_tinyagent_file(records, Path(tmp) / SPLIT_FILES["train"])
        return list(load_split(tmp, "train"))


def save_tiny_checkpoint(directory: Path, shape: TinyShape = SHAPE) -> Path:
    from tinyagent_ft.checkpoint import save_planner
    from tinyagent_ft.models import build_tiny
    from tinyagent_ft.prompts import PromptConfig

    rows = _rows(_records())
    model, tokenizer = build_tiny([r["query"] + "\n" + r["plan"] for r in rows], shape)
    save_planner(directory, model, tokenizer, PromptConfig(style="compact", examples=1, max_length=1024))
    return directory


def save_tiny_retriever(directory: Path) -> Path:
    """A random 2-layer BERT tool classifier whose encoder also embeds the examples (no download)."""
    from retriever.embedder import CLASSIFIER_EMBEDDER, ClassifierEmbedder
    from retriever.index import ExampleIndex
    from retriever.retriever import Retriever
    from tests.retriever_fixtures import minilm_tokenizer, tiny_bert_classifier

    rows = _rows(_records())
    classifier = tiny_bert_classifier(minilm_tokenizer())
    embedder = ClassifierEmbedder(classifier)
    index = ExampleIndex.build([r["id"] for r in rows], [r["query"] for r in rows], [r["tools"] for r in rows],
                               [r["plan"] for r in rows], embedder.encode, CLASSIFIER_EMBEDDER)
    Retriever(classifier, index, embedder).save(directory)
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become healthy in {timeout} s")


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """Run `app` under a real uvicorn server on a free loopback port in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matrices gain nothing from a second thread, and on a CPU shared with other jobs the threads'
    synchronisation made generation several times slower. Test modules that serve use it autouse."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
