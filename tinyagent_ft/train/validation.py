"""Validation by plan success: plan a fixed sample of the validation split through the same `Planner`
as `tinyagent eval` (the retriever's predicted tools and examples, grammar-constrained decoding) and
score the plans with planner_eval, since the token loss says little about whether arguments are right."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from datasets import Dataset

from planner_eval.catalog import default_catalog
from planner_eval.report import summarize
from planner_eval.score import score_plan
from tinyagent_ft.planner import Planner
from tinyagent_ft.prompts import PromptBuilder


def validation_sample(rows: Dataset, n: int | None, seed: int) -> Dataset:
    """A seeded sample of n records (all of them when n is None or larger than the split)."""
    if n is None or n >= len(rows):
        return rows
    return rows.shuffle(seed=seed).select(range(n))


@dataclass(frozen=True)
class ValidationScores:
    rates: dict[str, float]  # success_rate, tool_set_accuracy, valid_rate
    successes: tuple[bool, ...]  # per sampled record, in the sample's order: what checkpoints are compared on


class PlanValidation:
    def __init__(self, rows: Dataset, builder: PromptBuilder, retriever, constrain: bool = True, batch_size: int = 16,
                 copied_arguments: dict | None = None, derived_arguments: dict | None = None):
        self.queries, self.gold = list(rows["query"]), list(rows["plan"])
        self.fingerprint = hashlib.sha256(json.dumps([self.queries, self.gold]).encode()).hexdigest()[:16]
        self.prompt_config, self.retriever, self.catalog = builder.config, retriever, builder.catalog
        self.constrain, self.batch_size = constrain, batch_size
        self.copied_arguments, self.derived_arguments = copied_arguments, derived_arguments
        # The planner's own budget, as `tinyagent eval` plans by default: training sets it to the longest
        # training plan plus the grammar's closing reserve, so no plan is closed before it ends.
        self.max_new_tokens = builder.config.max_new_tokens

    def __len__(self) -> int:
        return len(self.queries)

    def score(self, model, tokenizer) -> ValidationScores:
        planner = Planner(model, tokenizer, self.prompt_config, self.retriever, self.catalog, self.copied_arguments,
                          self.derived_arguments)
        results = planner.plan(self.queries, constrain=self.constrain, max_new_tokens=self.max_new_tokens,
                               batch_size=self.batch_size)
        # Another catalog's plans are held to its argument types too; the built-in one's are scored as always.
        catalog = None if self.catalog is default_catalog() else self.catalog
        scored = [score_plan(gold, result.plan, catalog=catalog).as_dict() for gold, result in zip(self.gold, results)]
        summary = summarize(scored)
        return ValidationScores({key: summary[key] for key in ("success_rate", "tool_set_accuracy", "valid_rate")},
                                tuple(bool(plan["success"]) for plan in scored))
