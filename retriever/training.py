"""Fine-tuning the tool classifier, with a validation pass (and threshold tuning) after every epoch."""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from planner_eval.catalog import Catalog
from retriever import labels
from retriever.classifier import ToolClassifier, select
from retriever.embedder import Embedder
from retriever.index import ExampleIndex
from retriever.retriever import Retriever
from retriever.threshold import per_query_rates, tune_threshold


@dataclass(frozen=True)
class Records:
    """Plain training inputs: parallel lists, one entry per record."""

    ids: list[str]
    queries: list[str]
    tools: list[list[str]]
    plans: list[str]

    def __post_init__(self) -> None:
        if not len(self.ids) == len(self.queries) == len(self.tools) == len(self.plans):
            raise ValueError("ids, queries, tools and plans must have the same length")

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-4
    # The new head starts from random weights on small pooled features (about 0.05 in MiniLM), so it
    # needs a far larger step than the pretrained encoder, which only needs nudging.
    head_lr: float = 5e-3
    freeze_embeddings: bool = True  # keeps pretrained word vectors, so synonyms unseen in training still map close
    # Each training query loses each word with this probability, so that no single template word
    # decides a tool: queries phrased unlike the training templates still carry the other cues.
    word_dropout: float = 0.1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    # 0.8 rather than 0.9: on generated data it raised test recall from 0.986 to 0.996 for about
    # 0.2 extra tools per prompt (benchmarks/retriever.py), and a missing tool costs the whole plan.
    min_precision: float = 0.8
    seed: int = 0
    max_steps: int | None = None  # stop early after this many optimizer steps (tests, smoke runs)


def train_classifier(
    classifier: ToolClassifier,
    queries: Sequence[str],
    tool_sets: Sequence[Sequence[str]],
    validation: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Train in place; returns one validation record per epoch.

    With validation data the weights and threshold of the best epoch (recall first, then precision,
    each at that epoch's tuned threshold) are kept; without it the last epoch is kept at threshold 0.5.
    """
    if not queries:
        raise ValueError("no training queries")
    targets = labels.encode(tool_sets, classifier.tool_names)
    _start_at_prior(classifier, targets)
    generator = torch.Generator().manual_seed(config.seed)
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    steps_per_epoch = math.ceil(len(queries) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    optimizer = torch.optim.AdamW(_param_groups(classifier, config), lr=config.lr, weight_decay=config.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)

    history: list[dict[str, float]] = []
    best_rank: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    step = 0
    for epoch in range(1, config.epochs + 1):
        if step >= total_steps:
            break
        classifier.model.train()
        order = torch.randperm(len(queries), generator=generator)
        bar = tqdm(range(0, len(queries), config.batch_size), desc=f"epoch {epoch}/{config.epochs}", disable=not progress, unit="batch")
        losses: list[float] = []
        for start in bar:
            if step >= total_steps:
                break
            batch = order[start : start + config.batch_size].tolist()
            texts = [drop_words(queries[i], config.word_dropout, rng) for i in batch]
            loss = classifier.model(**classifier.tokenize(texts), labels=targets[batch]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        bar.close()
        record: dict[str, float] = {"epoch": epoch, "steps": step, "loss": sum(losses) / len(losses)}
        if validation is not None and len(validation[0]):
            record.update(_validate(classifier, validation, config.min_precision))
            rank = (record["val_recall"], record["val_precision"])
            if best_rank is None or rank > best_rank:
                best_rank = rank
                best_state = copy.deepcopy(classifier.model.state_dict())
                classifier.threshold = record["threshold"]
            log(
                f"epoch {epoch}: loss {record['loss']:.4f}  val recall {record['val_recall']:.4f}  "
                f"precision {record['val_precision']:.4f}  at threshold {record['threshold']:.2f}"
                f"  (recall {record['val_recall_at_0.5']:.4f} at 0.5)"
            )
        history.append(record)
    if best_state is not None:
        classifier.model.load_state_dict(best_state)
    classifier.model.eval()
    return history


def drop_words(text: str, rate: float, rng: random.Random) -> str:
    """`text` without a random share of its words (never all of them)."""
    if rate <= 0:
        return text
    words = text.split()
    kept = [w for w in words if rng.random() >= rate]
    return " ".join(kept) if kept else text


def _start_at_prior(classifier: ToolClassifier, targets: torch.Tensor) -> None:
    """Set the output bias to each tool's log-odds in the training data.

    From a zero bias the first hundred steps only learn that most tools are absent from most
    queries; starting at the prior spends them on telling queries apart instead.
    """
    output = _output_layer(classifier.model)
    prior = targets.mean(0).clamp(1e-3, 1 - 1e-3)
    with torch.no_grad():
        output.bias.copy_(torch.log(prior / (1 - prior)))


def _output_layer(model) -> torch.nn.Linear:
    """The head's final projection: the last linear layer outside the encoder with one output per label."""
    encoder_prefix = model.base_model_prefix + "."
    candidates = [
        module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and not name.startswith(encoder_prefix)
        and module.out_features == model.config.num_labels
    ]
    if not candidates or candidates[-1].bias is None:
        raise ValueError(f"cannot find the classification layer of {type(model).__name__}")
    return candidates[-1]


def _param_groups(classifier: ToolClassifier, config: TrainConfig) -> list[dict]:
    model = classifier.model
    if config.freeze_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    encoder_prefix = model.base_model_prefix + "."
    encoder, head = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (encoder if name.startswith(encoder_prefix) else head).append(parameter)
    return [{"params": encoder}, {"params": head, "lr": config.head_lr}]


def _validate(
    classifier: ToolClassifier, validation: tuple[Sequence[str], Sequence[Sequence[str]]], min_precision: float
) -> dict[str, float]:
    probabilities = classifier.probabilities(list(validation[0]))
    gold = labels.encode(validation[1], classifier.tool_names)
    tuned = tune_threshold(probabilities, gold, min_precision)
    recall_half, precision_half = per_query_rates(select(probabilities, 0.5), gold)
    return {
        "threshold": tuned["threshold"],
        "val_recall": tuned["recall"],
        "val_precision": tuned["precision"],
        "val_recall_at_0.5": recall_half,
        "val_precision_at_0.5": precision_half,
    }


def fit_retriever(
    train: Records,
    validation: Records | None,
    classifier: ToolClassifier,
    embedder: Embedder,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    log: Callable[[str], None] = print,
    catalog: Catalog | None = None,
) -> Retriever:
    """Train the classifier on the training records and index those same records as examples; the
    classifier's labels are ``catalog``'s tools (the built-in catalog by default)."""
    val = (validation.queries, validation.tools) if validation is not None and len(validation) else None
    history = train_classifier(classifier, train.queries, train.tools, val, config, progress, log)
    log(f"embedding {len(train)} training queries for the example index")
    index = ExampleIndex.build(train.ids, train.queries, train.tools, train.plans, embedder.encode, embedder.name,
                               classifier.tool_names)
    info = {
        "config": asdict(config),
        "train_records": len(train),
        "validation_records": len(validation) if validation is not None else 0,
        "history": history,
    }
    return Retriever(classifier, index, embedder, info, catalog)
