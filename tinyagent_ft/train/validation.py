"""Validation by plan success: plan a fixed sample of the validation split through the same `Planner`
as `tinyagent eval` (the retriever's predicted tools and examples, grammar-constrained decoding) and
score the plans with planner_eval, since the token loss says little about whether arguments are right."""

from __future__ import annotations

from datasets import Dataset

from planner_eval.catalog import default_catalog
from planner_eval.report import summarize
from planner_eval.score import score_plan
from tinyagent_ft.grammar import plan_reserve
from tinyagent_ft.planner import Planner
from tinyagent_ft.prompts import PromptBuilder

# Room left over the longest gold plan of the sample, so a near-miss plan is not cut short.
_SLACK_TOKENS = 32


def validation_sample(rows: Dataset, n: int | None, seed: int) -> Dataset:
    """A seeded sample of n records (all of them when n is None or larger than the split)."""
    if n is None or n >= len(rows):
        return rows
    return rows.shuffle(seed=seed).select(range(n))


class PlanValidation:
    def __init__(self, rows: Dataset, builder: PromptBuilder, retriever, constrain: bool = True, batch_size: int = 16,
                 copied_arguments: dict | None = None, derived_arguments: dict | None = None):
        self.queries, self.gold = list(rows["query"]), list(rows["plan"])
        self.prompt_config, self.retriever, self.catalog = builder.config, retriever, builder.catalog
        self.constrain, self.batch_size = constrain, batch_size
        self.copied_arguments, self.derived_arguments = copied_arguments, derived_arguments
        # Never below what a plan over any of the catalog's tools may need to close, whatever the
        # retriever predicts for a query.
        every_tool = list(self.catalog)
        self.max_new_tokens = max(
            max(builder.count(builder.completion(plan)) for plan in self.gold) + _SLACK_TOKENS,
            max(plan_reserve(every_tool, self.catalog, copied_arguments, query, derived_arguments)
                for query in self.queries))

    def __len__(self) -> int:
        return len(self.queries)

    def score(self, model, tokenizer) -> dict[str, float]:
        planner = Planner(model, tokenizer, self.prompt_config, self.retriever, self.catalog, self.copied_arguments,
                          self.derived_arguments)
        results = planner.plan(self.queries, constrain=self.constrain, max_new_tokens=self.max_new_tokens,
                               batch_size=self.batch_size)
        # Another catalog's plans are held to its argument types too; the built-in one's are scored as always.
        catalog = None if self.catalog is default_catalog() else self.catalog
        summary = summarize(score_plan(gold, result.plan, catalog=catalog).as_dict()
                            for gold, result in zip(self.gold, results))
        return {key: summary[key] for key in ("success_rate", "tool_set_accuracy", "valid_rate")}
