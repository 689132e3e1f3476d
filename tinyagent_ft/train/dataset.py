"""Completion-only training examples: the prompt builder's (prompt, completion) pairs, tokenized so
that only the plan carries a loss.

Prompt and completion are tokenized separately and concatenated: tokenizing the joined text could
merge the last prompt token with the first plan token, and then no label boundary would be exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from datasets import Dataset

from tinyagent_ft.prompts import PromptBuilder, record_rng
from tinyagent_ft.train.augment import intent_words, needed_words, noisy_query, phrasing_words

IGNORE_INDEX = -100  # label value the causal-LM loss skips


@dataclass(frozen=True)
class TrainingPair:
    id: str
    prompt: str
    completion: str


def retrieved_examples(retriever, rows: Dataset, k: int) -> list[list[str]]:
    """k in-context examples per record, chosen among those using the record's true tools and never
    the record itself. Retrieval is a deterministic function of the index, so every DDP rank gets
    the same examples without any communication."""
    if k == 0 or retriever is None:
        return [[] for _ in range(len(rows))]
    hits = retriever.retrieve(rows["query"], k=k, exclude_ids=list(rows["id"]), tools=rows["tools"])
    return [[hit.example for hit in record_hits] for record_hits in hits]


def training_pairs(rows: Dataset, builder: PromptBuilder, retriever=None, seed: int = 0,
                   query_noise: float = 0.0) -> tuple[list[TrainingPair], int]:
    """(pairs, number of records skipped because even their prompt without examples overflows the budget).
    ``query_noise`` > 0 perturbs each query's phrasing words at that rate (``augment.noisy_query``)."""
    examples = retrieved_examples(retriever, rows, builder.config.examples)
    needed, pool = [], []
    if query_noise > 0:
        intent = intent_words(builder.catalog)
        needed = [needed_words(plan, tools, intent) for plan, tools in zip(rows["plan"], rows["tools"])]
        pool = phrasing_words(rows["query"], needed)
    pairs, skipped = [], 0
    for i, (row, record_examples) in enumerate(zip(rows, examples)):
        query = row["query"]
        if query_noise > 0:
            query = noisy_query(query, needed[i], pool, query_noise, record_rng(seed, f"{row['id']}:noise"))
        pair = builder.training_pair(row["id"], query, row["tools"], row["plan"], record_examples, seed=seed)
        if pair is None:
            skipped += 1
        else:
            pairs.append(TrainingPair(row["id"], *pair))
    return pairs, skipped


def tokenize_pair(tokenizer, prompt: str, completion: str) -> dict[str, list[int]]:
    prompt_ids = tokenizer(prompt, add_special_tokens=False, verbose=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False, verbose=False)["input_ids"]
    return {
        "input_ids": prompt_ids + completion_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + completion_ids,
    }


def pair_lengths(train_set: Dataset) -> tuple[list[int], list[int]]:
    """Each pair's prompt and plan lengths in tokens, read from a `build_training_set` result rather than
    tokenized again (the plan's tokens are the labelled ones)."""
    plans = [sum(1 for token in labels if token != IGNORE_INDEX) for labels in train_set["labels"]]
    return [n - plan for n, plan in zip(train_set["length"], plans)], plans


def build_training_set(pairs: Sequence[TrainingPair], tokenizer) -> Dataset:
    """input_ids and labels per pair, plus `length` for Trainer's length-grouped sampler."""
    features = [tokenize_pair(tokenizer, p.prompt, p.completion) for p in pairs]
    return Dataset.from_dict({
        "input_ids": [f["input_ids"] for f in features],
        "labels": [f["labels"] for f in features],
        "length": [len(f["input_ids"]) for f in features],
    })
