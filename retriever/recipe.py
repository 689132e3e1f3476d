"""`train_retriever(data, out)`: what `tinyagent retriever train` does, callable from a script."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner_eval.catalog import Catalog, default_catalog
from retriever.backbones import DEFAULT_CLASSIFIER_BACKBONE, DEFAULT_EMBEDDER
from retriever.embedder import CLASSIFIER_EMBEDDER, ClassifierEmbedder, SentenceEmbedder
from retriever.retriever import Retriever
from retriever.training import Records, TrainConfig, fit_retriever


def train_retriever(
    data: Any,
    out: str | Path | None = None,
    *,
    backbone: str | None = None,
    embedder: str = DEFAULT_EMBEDDER,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 1e-4,
    head_lr: float = 5e-3,
    word_dropout: float = 0.1,
    min_precision: float = 0.8,
    max_train: int | None = None,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
    catalog: Catalog | str | Path | None = None,
) -> Retriever:
    """Fine-tune the tool classifier on the training split (validated each epoch), index the
    training records as in-context examples, save to ``out`` when given, and return the retriever.

    ``data`` is a data directory (str or Path), a DatasetDict with train and validation splits, or a
    pair of `Records` (train, validation). ``backbone``: a hub name or local directory (default
    DeBERTa-v3 where it can be had offline, else the packaged all-MiniLM-L6-v2). ``embedder``: a
    sentence-transformers model for the example index, or "classifier" to reuse the classifier's
    encoder. ``catalog`` (a catalog or a catalog file; the built-in tools by default) names the tools the
    records may call, the classifier's labels, and is saved with the retriever as tools.json.
    """
    from planner_eval.catalog_io import read_catalog
    from retriever.classifier import build

    if isinstance(catalog, (str, Path)):
        catalog = read_catalog(catalog)
    catalog = default_catalog() if catalog is None else catalog

    for name, value in (("min_precision", min_precision), ("word_dropout", word_dropout)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if lr <= 0 or head_lr <= 0:
        raise ValueError(f"learning rates must be positive, got lr {lr} and head_lr {head_lr}")
    _quiet_transformers()
    train, validation = _records(data, max_train, seed, catalog)
    classifier = build(backbone, DEFAULT_CLASSIFIER_BACKBONE, seed, list(catalog))
    used = classifier.backbone
    log(f"backbone: {used['name']} ({used['source']}: {used['path']})" + (f"; {used['note']}" if used["note"] else ""))
    log(f"training on {len(train)} records, validating on {len(validation)}")
    index_embedder = ClassifierEmbedder(classifier) if embedder == CLASSIFIER_EMBEDDER else SentenceEmbedder(embedder)
    if isinstance(index_embedder, SentenceEmbedder):
        index_embedder.load()  # an unavailable embedder fails now, not after the classifier has trained
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, head_lr=head_lr, word_dropout=word_dropout,
                         min_precision=min_precision, seed=seed)
    started = time.perf_counter()
    retriever = fit_retriever(train, validation, classifier, index_embedder, config, progress, log, catalog)
    retriever.info["train_seconds"] = round(time.perf_counter() - started, 1)
    if out is not None:
        retriever.save(out)
    return retriever


def _records(data: Any, max_train: int | None, seed: int, catalog: Catalog) -> tuple[Records, Records]:
    """(train, validation) Records from a data directory or DatasetDict, or as given."""
    if isinstance(data, tuple) and all(isinstance(part, Records) for part in data):
        return data
    # The data formats belong to tinyagent_ft; loaded lazily, so this package imports none of it.
    from tinyagent_ft.data.source import split_rows

    train = split_rows(data, "train", catalog)
    if max_train is not None and max_train < len(train):
        train = train.shuffle(seed=seed).select(range(max_train))
    return _as_records(train), _as_records(split_rows(data, "validation", catalog))


def _as_records(rows) -> Records:
    return Records(list(rows["id"]), list(rows["query"]), [list(t) for t in rows["tools"]], list(rows["plan"]))


def _quiet_transformers() -> None:
    # The load report lists the new classification head as "missing", which is expected here.
    from transformers.utils import logging

    logging.set_verbosity_error()
