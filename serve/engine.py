"""The one place the server meets the planner (`tinyagent_ft.planner.Planner`): prompts from its
`prepare` (the training prompt builder and the retriever), plans from `generate_plans` with
grammar-constrained decoding, as `tinyagent eval` runs them. Methods here block: the batcher calls
them in its model thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby

from transformers import TextStreamer

from tinyagent_ft.generation import generate_plans


@dataclass(frozen=True)
class PlanJob:
    query: str
    max_new_tokens: int
    tools: tuple[str, ...] | None = None  # restricts the retriever's choice
    examples: int | None = None  # in-context examples (k); None: the checkpoint's setting


@dataclass(frozen=True)
class PlanOutcome:
    plan: str
    tools: list[str]
    examples: list[str]
    prompt_tokens: int
    completion_tokens: int


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

    def plan_batch(self, jobs: Sequence[PlanJob]) -> list[PlanOutcome]:
        """Plans for jobs in order; one `generate` call per distinct max_new_tokens, since a
        shorter budget must not be overrun by a longer one sharing its batch."""
        prepared = self._prepare_all(jobs)
        outcomes: dict[int, PlanOutcome] = {}
        for budget, indices in _groups(jobs, lambda job: job.max_new_tokens):
            requests = [prepared[i] for i in indices]
            plans = generate_plans(
                self.planner.model, self.planner.tokenizer, [r.prompt for r in requests],
                tools=[list(r.tools) for r in requests], constrain=True,
                max_new_tokens=budget, batch_size=len(requests),
            )
            for i, request, plan in zip(indices, requests, plans):
                outcomes[i] = self._outcome(request, plan)
        return [outcomes[i] for i in range(len(jobs))]

    def plan_stream(self, job: PlanJob, on_text: Callable[[str], None]) -> PlanOutcome:
        [request] = self._prepare([job])
        [plan] = generate_plans(
            self.planner.model, self.planner.tokenizer, [request.prompt], tools=[list(request.tools)],
            constrain=True, max_new_tokens=job.max_new_tokens, batch_size=1,
            streamer=_CallbackStreamer(self.planner.tokenizer, on_text),
        )
        return self._outcome(request, plan)

    def _prepare_all(self, jobs: Sequence[PlanJob]) -> list:
        """Prompts for jobs in order; the retriever runs once for all jobs with the same options."""
        prepared: list = [None] * len(jobs)
        for _, indices in _groups(jobs, lambda job: (job.tools or (), -1 if job.examples is None else job.examples)):
            for i, request in zip(indices, self._prepare([jobs[i] for i in indices])):
                prepared[i] = request
        return prepared

    def _prepare(self, jobs: Sequence[PlanJob]) -> list:
        tools = None if jobs[0].tools is None else list(jobs[0].tools)
        return self.planner.prepare([job.query for job in jobs], tools=tools, examples=jobs[0].examples)

    def _outcome(self, request, plan: str) -> PlanOutcome:
        return PlanOutcome(
            plan=plan, tools=list(request.tools), examples=list(request.examples),
            prompt_tokens=self._count(request.prompt), completion_tokens=self._count(plan),
        )

    def _count(self, text: str) -> int:
        return len(self.planner.tokenizer(text, add_special_tokens=False)["input_ids"])


def _groups(jobs: Sequence[PlanJob], key: Callable[[PlanJob], object]) -> list[tuple[object, list[int]]]:
    """Indices of jobs grouped by key (keys must sort)."""
    order = sorted(range(len(jobs)), key=lambda i: key(jobs[i]))
    return [(k, list(group)) for k, group in groupby(order, key=lambda i: key(jobs[i]))]
