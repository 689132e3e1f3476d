"""The tool classifier: a sequence classifier with one sigmoid per catalog tool (any number, one or more);
its labels (`config.id2label`) are the catalog's tool names in catalog order.

The decision threshold is part of the model (stored in its config as `tool_threshold`), because a
probability without the threshold it was tuned with cannot be turned back into a tool set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from retriever import labels
from retriever.backbones import PACKAGED_MINILM, Backbone, locate, resolve

MAX_QUERY_TOKENS = 64
DEFAULT_THRESHOLD = 0.5


def label_maps(tool_names: Sequence[str] | None = None) -> tuple[dict[int, str], dict[str, int]]:
    id2label = dict(enumerate(labels.default_names() if tool_names is None else tool_names))
    if not id2label:
        raise ValueError("a tool classifier needs at least one tool")
    return id2label, {name: i for i, name in id2label.items()}


class ToolClassifier:
    """Query text -> the set of tools a plan for it needs."""

    def __init__(self, model: PreTrainedModel, tokenizer, threshold: float | None = None, max_length: int | None = None):
        self.tool_names = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
        self.model = model
        self.tokenizer = tokenizer
        self.threshold = float(threshold if threshold is not None else getattr(model.config, "tool_threshold", DEFAULT_THRESHOLD))
        self.max_length = int(max_length or getattr(model.config, "max_query_tokens", MAX_QUERY_TOKENS))

    @classmethod
    def from_backbone(cls, backbone: Backbone, seed: int = 0, tool_names: Sequence[str] | None = None) -> ToolClassifier:
        """A fresh multi-label head, one output per tool (the built-in catalog's by default), on a pretrained
        encoder; `seed` fixes the head's initial weights."""
        id2label, label2id = label_maps(tool_names)
        # The head is drawn from torch's global generator: seed it here, or the same training seed
        # gives a different classifier on every run. fork_rng leaves the caller's stream as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForSequenceClassification.from_pretrained(
                backbone.path,
                num_labels=len(id2label),
                problem_type="multi_label_classification",
                id2label=id2label,
                label2id=label2id,
                # A backbone that already has a classification head of another size gets a new one.
                ignore_mismatched_sizes=True,
            )
        model.config.backbone = backbone.as_dict()
        return cls(model, AutoTokenizer.from_pretrained(backbone.path))

    @classmethod
    def load(cls, directory: str | Path) -> ToolClassifier:
        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise OSError(f"no tool classifier in {directory} (config.json missing)")
        model = AutoModelForSequenceClassification.from_pretrained(directory)
        return cls(model, AutoTokenizer.from_pretrained(directory))

    def save(self, directory: str | Path) -> None:
        self.model.config.tool_threshold = self.threshold
        self.model.config.max_query_tokens = self.max_length
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    @property
    def backbone(self) -> dict[str, str]:
        return dict(getattr(self.model.config, "backbone", {}) or {})

    def tokenize(self, queries: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            list(queries), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    def probabilities(self, queries: Sequence[str], batch_size: int = 128) -> torch.Tensor:
        """(len(queries), tools) sigmoid outputs, in catalog order."""
        return self.probabilities_and_embeddings(queries, batch_size, embeddings=False)[0]

    @torch.inference_mode()
    def probabilities_and_embeddings(
        self, queries: Sequence[str], batch_size: int = 128, embeddings: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sigmoid outputs and, from the same forward pass, unit-length mean-pooled last hidden states."""
        self.model.eval()
        probabilities = torch.zeros(len(queries), len(self.tool_names))
        vectors = torch.zeros(len(queries), self.model.config.hidden_size) if embeddings else None
        # Batching queries of similar length wastes less compute on padding.
        order = sorted(range(len(queries)), key=lambda i: len(queries[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = self.tokenize([queries[i] for i in rows])
            output = self.model(**batch, output_hidden_states=embeddings)
            probabilities[rows] = torch.sigmoid(output.logits)
            if vectors is not None:
                vectors[rows] = mean_pool(output.hidden_states[-1], batch["attention_mask"])
        return probabilities, vectors

    def predict_hot(self, queries: Sequence[str], batch_size: int = 128) -> torch.Tensor:
        return select(self.probabilities(queries, batch_size), self.threshold)

    def predict(self, queries: Sequence[str], batch_size: int = 128) -> list[list[str]]:
        return labels.decode(self.predict_hot(queries, batch_size), self.tool_names)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the unmasked token states, scaled to unit length (a dot product is then a cosine)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def select(probabilities: torch.Tensor, threshold: float) -> torch.Tensor:
    """Tools at or above the threshold, and always the most likely one: every query needs some tool."""
    chosen = probabilities >= threshold
    chosen[torch.arange(len(probabilities)), probabilities.argmax(dim=1)] = True
    return chosen


def build(backbone_name: str | None, default: str, seed: int = 0, tool_names: Sequence[str] | None = None) -> ToolClassifier:
    """A classifier on the requested backbone; when the *default* cannot be loaded here, on the packaged MiniLM.

    The default (DeBERTa-v3) may be cached yet unloadable, e.g. its sentencepiece tokenizer without
    sentencepiece installed; an explicit --backbone that fails is an error instead.
    """
    backbone = resolve(backbone_name, default)
    try:
        return ToolClassifier.from_backbone(backbone, seed, tool_names)
    except (OSError, ValueError, ImportError) as error:
        if backbone_name is not None or backbone.name == PACKAGED_MINILM:
            raise
        minilm = locate(PACKAGED_MINILM)
        assert minilm is not None
        first_line = (str(error).splitlines() or [""])[0][:120]
        note = f"{backbone.name} failed to load ({type(error).__name__}: {first_line}); fell back"
        return ToolClassifier.from_backbone(Backbone(minilm.name, minilm.path, minilm.source, note), seed, tool_names)
