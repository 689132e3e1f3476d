"""ToolRAG: predict the tools a query needs, then retrieve in-context examples that use only those tools."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path

import torch

from planner_eval.catalog import Catalog, default_catalog
from planner_eval.catalog_io import CATALOG_FILE, canonical, stored_catalog, write_catalog
from retriever import labels
from retriever.classifier import ToolClassifier, select
from retriever.embedder import CLASSIFIER_EMBEDDER, ClassifierEmbedder, Embedder, SentenceEmbedder
from retriever.index import Example, ExampleIndex
from retriever.quantize import quantize_linear_int8

MANIFEST = "retriever.json"
FORMAT = "tinyagent-retriever"
VERSION = 1
CLASSIFIER_DIR = "classifier"
INDEX_DIR = "index"


class Retriever:
    def __init__(self, classifier: ToolClassifier, index: ExampleIndex, embedder: Embedder, info: dict | None = None,
                 catalog: Catalog | None = None):
        """``catalog`` is the one the classifier's labels name, in order (the built-in one by default)."""
        self.catalog = default_catalog() if catalog is None else catalog
        if classifier.tool_names != tuple(self.catalog):
            raise ValueError("the classifier's labels are not the catalog's tools in catalog order")
        if index.tool_names != classifier.tool_names:
            raise ValueError("the example index and the classifier name different tools")
        self.classifier = classifier
        self.index = index
        self.embedder = embedder
        self.info = dict(info or {})  # training facts kept in the manifest (backbone, validation scores, ...)
        self.quantized = False

    @classmethod
    def load(cls, directory: str | Path, embedder: Embedder | None = None) -> Retriever:
        """Load a saved retriever; `embedder` overrides the one named in the manifest (tests, custom models)."""
        directory = Path(directory)
        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            raise OSError(f"{directory} is not a retriever directory ({MANIFEST} missing)")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise ValueError(f"{manifest_path}: not a {FORMAT} v{VERSION} manifest")
        # A retriever saved before catalogs travelled with it has no tools.json: the built-in tools.
        catalog = canonical(stored_catalog(directory) or default_catalog())
        if manifest.get("tool_names") != list(catalog):
            raise ValueError(f"{manifest_path}: its tools are not those of {directory / CATALOG_FILE}")
        index = ExampleIndex.load(directory / INDEX_DIR)
        classifier = ToolClassifier.load(directory / CLASSIFIER_DIR)
        if embedder is None:
            shared = index.embedder == CLASSIFIER_EMBEDDER
            embedder = ClassifierEmbedder(classifier) if shared else SentenceEmbedder(index.embedder)
        return cls(classifier, index, embedder, manifest.get("info"), catalog)

    def save(self, directory: str | Path) -> None:
        if self.quantized:
            raise ValueError("an int8-quantized retriever is for inference only; save the original")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.classifier.save(directory / CLASSIFIER_DIR)
        self.index.save(directory / INDEX_DIR)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "tool_names": list(self.catalog),
            "backbone": self.classifier.backbone,
            "threshold": self.classifier.threshold,
            "embedder": self.index.embedder,
            "examples": len(self.index),
            "info": self.info,
        }
        write_catalog(self.catalog, directory)
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))

    def quantize_int8(self) -> list[str]:
        """Switch both encoders to int8 linear layers for faster CPU inference; returns why any could not be.

        For serving and benchmarks only: a quantized retriever cannot be saved.
        """
        self.quantized = True
        problems = []
        self.classifier.model, problem = quantize_linear_int8(self.classifier.model)
        problems += [problem] if problem else []
        if isinstance(self.embedder, SentenceEmbedder):
            self.embedder.model, problem = quantize_linear_int8(self.embedder.model)
            problems += [problem] if problem else []
        return problems

    def predict_tools(self, queries: Sequence[str], batch_size: int = 128) -> list[list[str]]:
        return self.classifier.predict(list(queries), batch_size)

    def predict_tools_and_embed(self, queries: Sequence[str],
                                batch_size: int = 128) -> tuple[list[list[str]], torch.Tensor | None]:
        """Predicted tools and, when the index embeds with the classifier's own encoder, the queries'
        embeddings from the same pass (None otherwise): `retrieve(..., embeddings=...)` then needs no
        second pass."""
        queries = list(queries)
        if not self._shares_encoder():
            return self.predict_tools(queries, batch_size), None
        probabilities, embeddings = self.classifier.probabilities_and_embeddings(queries, batch_size)
        return labels.decode(select(probabilities, self.classifier.threshold), self.classifier.tool_names), embeddings

    def _shares_encoder(self) -> bool:
        return isinstance(self.embedder, ClassifierEmbedder) and self.embedder.classifier is self.classifier

    def retrieve(
        self,
        queries: Sequence[str],
        k: int = 5,
        exclude_ids: Sequence[str | Collection[str] | None] | None = None,
        tools: Sequence[Sequence[str]] | None = None,
        batch_size: int = 128,
        embeddings: torch.Tensor | None = None,
    ) -> list[list[Example]]:
        """k examples per query whose tools fit the query's tools: predicted ones, or `tools` when given.

        exclude_ids[i] (an id or a collection of ids) is never returned for query i; a training prompt
        passes its own record id so the answer does not leak into its examples. ``embeddings`` (with
        ``tools``) are the queries' own, from `predict_tools_and_embed`.
        """
        queries = list(queries)
        if embeddings is not None and tools is not None:
            allowed = labels.encode(tools, self.classifier.tool_names)
        else:
            allowed, embeddings = self._classify_and_embed(queries, tools, batch_size)
        return self._search(embeddings, allowed, k, exclude_ids, batch_size)

    def _classify_and_embed(
        self, queries: list[str], tools: Sequence[Sequence[str]] | None, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(allowed tools as a multi-hot matrix, query embeddings), in one encoder pass when they share it."""
        if tools is not None:
            return labels.encode(tools, self.classifier.tool_names), self.embedder.encode(queries)
        if self._shares_encoder():
            probabilities, embeddings = self.classifier.probabilities_and_embeddings(queries, batch_size)
            return select(probabilities, self.classifier.threshold), embeddings
        # One encode call for all queries: the embedder batches them by length, wasting less on padding.
        return self.classifier.predict_hot(queries, batch_size), self.embedder.encode(queries)

    def _search(self, embeddings: torch.Tensor, allowed: torch.Tensor, k, exclude_ids, batch_size) -> list[list[Example]]:
        results: list[list[Example]] = []
        for start in range(0, len(embeddings), batch_size):
            stop = start + batch_size
            excluded = None if exclude_ids is None else exclude_ids[start:stop]
            results.extend(self.index.search(embeddings[start:stop], allowed[start:stop], k, excluded))
        return results

    def query(self, text: str, k: int = 5) -> dict:
        """The `tinyagent retriever query` answer for one query."""
        allowed, embeddings = self._classify_and_embed([text], None, 1)
        examples = self._search(embeddings, allowed, k, None, 1)[0]
        return {
            "tools": labels.decode(allowed, self.classifier.tool_names)[0],
            "examples": [{"id": e.id, "query": e.query, "tools": e.tools, "score": round(e.score, 4)} for e in examples],
        }
