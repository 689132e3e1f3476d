"""Sentence embeddings for the example index, unit-normalized so a dot product is a cosine."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Protocol

import torch

from retriever.backbones import DEFAULT_EMBEDDER, locate

MAX_TOKENS = 128
CLASSIFIER_EMBEDDER = "classifier"


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> torch.Tensor: ...


class SentenceEmbedder:
    """A sentence-transformers model found without the network (see backbones.locate).

    The weights load on the first ``encode``: a planner whose prompts hold no in-context examples
    (the tiny model's default) never retrieves, and should not hold a second encoder (90 MB for
    MiniLM) nor need its package installed.
    """

    def __init__(self, name: str = DEFAULT_EMBEDDER, batch_size: int = 128):
        self.name = name
        self.batch_size = batch_size

    @cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        found = locate(self.name)
        if found is None:
            raise OSError(f"sentence embedder {self.name!r} is not available offline; pass a local path")
        model = SentenceTransformer(found.path, device="cpu")
        # User queries are short; a shorter cap bounds the cost of the odd pasted paragraph.
        model.max_seq_length = min(model.max_seq_length or MAX_TOKENS, MAX_TOKENS)
        return model

    def load(self) -> SentenceEmbedder:
        """Load the weights now: where a failure or a first-call delay would come at a bad time."""
        _ = self.model
        return self

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, self.model.get_embedding_dimension())
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_tensor=True, normalize_embeddings=True,
            show_progress_bar=False,
        )
        return vectors.float().cpu()


class ClassifierEmbedder:
    """The tool classifier's own encoder, mean-pooled: retrieval then needs no second encoder pass.

    On CPU that doubles classify + retrieve throughput. Its neighbours share the query's tool set
    more often than a general sentence model's, and its arguments less often (README, "Retriever").
    """

    name = CLASSIFIER_EMBEDDER

    def __init__(self, classifier, batch_size: int = 128):
        self.classifier = classifier  # a retriever.classifier.ToolClassifier; it may still be training
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.classifier.probabilities_and_embeddings(list(texts), self.batch_size)[1]
