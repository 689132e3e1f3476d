"""Validation by plan success: generate plans for a fixed sample of the validation split the way
`tinyagent eval` does (the retriever's predicted tools and examples in the prompt) and score them
with planner_eval, because the token loss says little about whether a plan's arguments are right."""

from __future__ import annotations

from datasets import Dataset

from planner_eval.report import summarize
from planner_eval.score import score_plan
from tinyagent_ft.generation import generate_plans
from tinyagent_ft.prompts import PromptBuilder

# Room left over the longest gold plan of the sample, so a near-miss plan is not cut short.
_SLACK_TOKENS = 32


def validation_sample(rows: Dataset, n: int | None, seed: int) -> Dataset:
    """A seeded sample of n records (all of them when n is None or larger than the split)."""
    if n is None or n >= len(rows):
        return rows
    return rows.shuffle(seed=seed).select(range(n))


class PlanValidation:
    """Inference prompts are built once: they depend on the retriever, not on the model being trained."""

    def __init__(self, rows: Dataset, builder: PromptBuilder, retriever, batch_size: int = 16):
        self.ids, self.gold = list(rows["id"]), list(rows["plan"])
        completion_tokens = max(builder.count(builder.completion(plan)) for plan in self.gold)
        self.max_new_tokens = completion_tokens + _SLACK_TOKENS
        self.batch_size = batch_size
        queries = list(rows["query"])
        tools = retriever.predict_tools(queries)
        k = builder.config.examples
        hits = retriever.retrieve(queries, k=k) if k else [[] for _ in queries]
        self.prompts = [
            builder.inference_prompt(q, t, [h.example for h in h_list], max_new_tokens=self.max_new_tokens)
            for q, t, h_list in zip(queries, tools, hits)
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def score(self, model, tokenizer) -> dict[str, float]:
        plans = generate_plans(model, tokenizer, self.prompts, max_new_tokens=self.max_new_tokens, batch_size=self.batch_size)
        summary = summarize(score_plan(gold, plan).as_dict() for gold, plan in zip(self.gold, plans))
        return {key: summary[key] for key in ("success_rate", "tool_set_accuracy", "valid_rate")}
