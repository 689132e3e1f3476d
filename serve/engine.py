"""The one place the server meets the planner (`tinyagent_ft.planner.Planner`): prompts from its
`prepare` (the retriever and the training prompt builder), plans from `generate_plans_with_stats`
with grammar-constrained decoding, exactly as `tinyagent eval` runs them. Methods here block: the
batcher calls them in its model thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from transformers import TextStreamer

from serve.schemas import MAX_NEW_TOKENS
from tinyagent_ft.generation import generate_plans_with_stats
from tinyagent_ft.grammar import plan_reserve


class PlanRejected(ValueError):
    """A request the planner cannot take: its prompt overflows the model's context, or its budget is
    below what a plan over its tools may need to close. The message says which (a 400)."""


@dataclass(frozen=True)
class PlanJob:
    query: str
    max_new_tokens: int
    tools: tuple[str, ...] | None = None  # restricts the retriever's choice
    examples: int | None = None  # in-context examples (k); None: the checkpoint's setting
    # The request's own catalog when it brought tools the planner never saw (then the plan uses exactly
    # ``tools``); None: the served catalog.
    catalog: Any = None


@dataclass(frozen=True)
class PlanOutcome:
    plan: str
    tools: list[str]
    examples: list[dict[str, Any]]  # {"id", "query", "score"} of each example kept in the prompt
    prompt_tokens: int
    completion_tokens: int
    catalog: Any = None  # the catalog the plan is written in, when not the served one (a request's own)


class _CallbackStreamer(TextStreamer):
    """Hands each decoded piece of the plan to a callback (the server's event stream)."""

    def __init__(self, tokenizer, on_text: Callable[[str], None]):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.on_text = on_text

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.on_text(text)


class PlannerEngine:
    def __init__(self, planner, model_name: str):
        self.planner = planner
        self.model_name = model_name

    @property
    def catalog(self):
        """The served catalog: the tools the planner was trained on."""
        return self.planner.catalog

    @property
    def default_max_new_tokens(self) -> int:
        """A request's budget when it names none: the planner's (planner.json), within the API's limit."""
        return min(self.planner.plan_tokens(), MAX_NEW_TOKENS)

    def plan_batch(self, jobs: Sequence[PlanJob]) -> list[PlanOutcome | PlanRejected]:
        """An outcome, or the reason it was refused, per job in order. Jobs are generated together
        per max_new_tokens: a shorter budget must not be overrun by a longer one in its batch."""
        results: list[PlanOutcome | PlanRejected | None] = [None] * len(jobs)
        by_budget = sorted(range(len(jobs)), key=lambda i: jobs[i].max_new_tokens)
        for budget, group in groupby(by_budget, key=lambda i: jobs[i].max_new_tokens):
            indices = list(group)
            requests = self._prepare([jobs[i] for i in indices], budget)
            ready = [(i, r) for i, r in zip(indices, requests) if not isinstance(r, PlanRejected)]
            for i, request in zip(indices, requests):
                if isinstance(request, PlanRejected):
                    results[i] = request
            if ready:
                outcomes = self._generate([r for _, r in ready], budget)
                for (i, _), outcome in zip(ready, outcomes):
                    results[i] = outcome
        return results

    def plan_stream(self, job: PlanJob, on_text: Callable[[str], None], on_start: Callable[[], None]) -> PlanOutcome:
        """One plan, its text handed to `on_text` as it is decoded; `on_start` is called once the
        request is accepted, just before generation. Raises PlanRejected."""
        [request] = self._prepare([job], job.max_new_tokens)
        if isinstance(request, PlanRejected):
            raise request
        on_start()
        [outcome] = self._generate([request], job.max_new_tokens, _CallbackStreamer(self.planner.tokenizer, on_text))
        return outcome

    def _prepare(self, jobs: Sequence[PlanJob], budget: int) -> list:
        """Prompts (PlanRequests) or PlanRejected, per job; the retriever runs once for all jobs."""
        default_k = self.planner.prompt_config.examples
        try:
            requests = self.planner.prepare(
                [j.query for j in jobs], tools=[None if j.tools is None else list(j.tools) for j in jobs],
                examples=[default_k if j.examples is None else j.examples for j in jobs], max_new_tokens=budget,
                catalogs=[j.catalog for j in jobs],
            )
        except ValueError as error:
            if len(jobs) == 1:
                return [PlanRejected(str(error))]
            # One query that does not fit must not fail the others: find it one job at a time.
            return [self._prepare([job], budget)[0] for job in jobs]
        return [_checked_budget(r, budget, self.planner) for r in requests]

    def _generate(self, requests: list, budget: int, streamer=None) -> list[PlanOutcome]:
        plans, stats = generate_plans_with_stats(
            self.planner.model, self.planner.tokenizer, [r.prompt for r in requests], tools=[r.tools for r in requests],
            catalog=[self.planner.catalog_of(r) for r in requests], constrain=True, max_new_tokens=budget,
            batch_size=len(requests), streamer=streamer, questions=[r.query for r in requests],
            copied=self.planner.copied_arguments, derived=self.planner.derived_arguments,
        )
        return [self._outcome(r, plan, count) for r, plan, count in zip(requests, plans, stats.tokens_per_plan)]

    def _outcome(self, request, plan: str, new_tokens: int) -> PlanOutcome:
        examples = [{"id": e.id, "query": e.query, "score": round(float(e.score), 4)} for e in request.examples]
        prompt_tokens = len(self.planner.tokenizer(request.prompt, add_special_tokens=False)["input_ids"])
        return PlanOutcome(plan, list(request.tools), examples, prompt_tokens, new_tokens, request.catalog)


def _checked_budget(request, budget: int, planner):
    needed = plan_reserve(request.tools, planner.catalog_of(request), planner.copied_arguments, request.query,
                          planner.derived_arguments)
    if budget < needed:
        return PlanRejected(
            f"max_new_tokens={budget} is below the {needed} tokens a plan over the chosen tools "
            f"({', '.join(request.tools)}) may need; ask for at least {needed} or leave it out"
        )
    return request
