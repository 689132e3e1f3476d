"""Query -> plan: the one pipeline behind `tinyagent eval`, per-epoch validation and the server.

A query's tools come from the retriever's classifier (all the catalog's tools without a retriever), its
in-context examples from the retriever's index (none without one), its prompt from `PromptBuilder`
exactly as training built it, and its plan from `generate_plans` (grammar-constrained by default). The
catalog is the checkpoint's (`tools.json`, else the built-in TinyAgent tools); a retriever must agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from planner_eval.catalog import Catalog, default_catalog
from planner_eval.parse import parse_plan
from planner_eval.plan import Action
from planner_eval.validate import plan_error
from tinyagent_ft.copying import checked_copied_arguments
from tinyagent_ft.moments import checked_derived_arguments
from tinyagent_ft.generation import GenerationStats, generate_plans_with_stats
from tinyagent_ft.prompts import PromptBuilder, PromptConfig


@dataclass
class PlanRequest:
    query: str
    tools: list[str]  # the tools the prompt lists (and the grammar allows)
    examples: list[Any]  # retriever Examples kept in the prompt: .id, .query, .plan, .score, .example (text)
    prompt: str
    catalog: Catalog | None = None  # the request's own catalog (tools the planner never saw); None: the planner's


@dataclass
class PlanResult:
    query: str
    tools: list[str]
    examples: list[Any]
    prompt: str
    plan: str  # through <END_OF_PLAN>
    valid: bool  # parses and is a valid DAG over known tools (planner_eval)
    error: str | None  # planner_eval's error category when not valid
    actions: list[Action] = field(default_factory=list)  # parsed actions (join excluded), even when invalid
    new_tokens: int = 0  # tokens generated for this plan


class Planner:
    def __init__(self, model, tokenizer, prompt_config: PromptConfig, retriever=None, catalog: Catalog | None = None,
                 copied_arguments: Mapping[str, Sequence[str]] | None = None,
                 derived_arguments: Mapping[str, Mapping[str, Sequence[str]]] | None = None):
        """``catalog``: the tools the planner was trained on (the retriever's when not given, else the
        built-in ones). ``copied_arguments`` (tool -> argument names, learnt by `tinyagent_ft.copying`):
        arguments whose strings the grammar holds to spans of the question; ``derived_arguments`` (tool
        -> argument -> kinds, learnt by `tinyagent_ft.moments`): arguments it holds to the dates, times
        and durations the question says."""
        self.model = model
        self.tokenizer = tokenizer
        self.prompt_config = prompt_config
        self.retriever = retriever
        if catalog is None:
            catalog = retriever.catalog if retriever is not None else default_catalog()
        if retriever is not None and list(retriever.catalog) != list(catalog):
            raise ValueError("the retriever was trained on other tools than the planner's catalog")
        self.catalog = catalog
        self.copied_arguments = checked_copied_arguments(copied_arguments or {}, catalog)
        self.derived_arguments = checked_derived_arguments(derived_arguments or {}, catalog)
        self.builder = PromptBuilder(tokenizer, prompt_config, catalog)

    @classmethod
    def load(cls, checkpoint_dir: str | Path, retriever_dir: str | Path | None = None, device: str = "auto",
             tools: str | Path | None = None) -> Planner:
        """A planner from a checkpoint (`save_planner`) and, optionally, a retriever directory.
        ``device`` "auto" picks cuda, then mps, then cpu. The catalog is the checkpoint's; ``tools`` (a
        catalog file) must agree with it and with the retriever's, or a CatalogError (a ValueError)
        names the first difference."""
        from planner_eval.catalog_io import resolve_catalog
        from retriever.retriever import MANIFEST, Retriever
        from tinyagent_ft.checkpoint import load_planner
        from tinyagent_ft.devices import resolve_device
        from tinyagent_ft.grammar import check_catalog_grammar

        # Both paths are checked before either is loaded: a typo costs no model loading.
        if not Path(checkpoint_dir).is_dir():
            raise OSError(f"{checkpoint_dir}: no such checkpoint directory")
        if retriever_dir is not None and not (Path(retriever_dir) / MANIFEST).is_file():
            raise OSError(f"{retriever_dir} is not a retriever directory ({MANIFEST} missing)")
        stored = [checkpoint_dir] + ([retriever_dir] if retriever_dir is not None else [])
        catalog = resolve_catalog(tools, stored)
        check_catalog_grammar(catalog)
        retriever = Retriever.load(retriever_dir) if retriever_dir is not None else None
        checkpoint = load_planner(checkpoint_dir, device=resolve_device(device))
        return cls(checkpoint.model, checkpoint.tokenizer, checkpoint.prompt_config, retriever, catalog,
                   checkpoint.copied_arguments, checkpoint.derived_arguments)

    def prepare(self, queries: Sequence[str], tools: Sequence[Sequence[str] | None] | None = None,
                examples: int | Sequence[int] | None = None, max_new_tokens: int | None = None,
                catalogs: Sequence[Catalog | None] | None = None) -> list[PlanRequest]:
        """Tools, examples and prompt for each query.

        ``tools[i]`` restricts query i: the retriever's predicted tools that are in it, or ``tools[i]``
        as given when the prediction shares none with it (the caller's list is the stronger signal).
        Without a retriever ``tools[i]`` is used as given. A retriever predicting no tool at all falls
        back to the whole catalog, since a grammar over no tools could only write an empty plan.
        ``examples`` overrides the checkpoint's number of in-context examples (k), for all queries or
        per query. ``catalogs[i]``, when given, is query i's own catalog (the planner's tools plus tools it
        never saw, from the request): query i's prompt and grammar then hold exactly ``tools[i]``.
        Raises ValueError when a query does not fit the prompt budget.
        """
        queries = list(queries)
        max_new_tokens = self.plan_tokens(max_new_tokens)
        restrictions = list(tools) if tools is not None else [None] * len(queries)
        own = list(catalogs) if catalogs is not None else [None] * len(queries)
        if not len(restrictions) == len(own) == len(queries):
            raise ValueError(f"{len(queries)} queries but {len(restrictions)} tool restrictions and {len(own)} catalogs")
        counts = self._example_counts(examples, len(queries))
        for restriction, catalog in zip(restrictions, own):
            known = self.catalog if catalog is None else catalog
            unknown = next((t for t in restriction or () if t not in known), None)
            if unknown is not None:
                raise ValueError(f"tools: {unknown!r} is not in the planner's catalog of {len(self.catalog)} tools")
            if catalog is not None and not restriction:
                raise ValueError("a query with its own catalog needs the tools it may use")
        chosen, embeddings = self._choose_tools(queries, restrictions, own, need_embeddings=max(counts, default=0) > 0)
        found = self._retrieve(queries, chosen, counts, embeddings)
        requests = []
        for query, query_tools, query_examples, catalog in zip(queries, chosen, found, own):
            builder = self.builder if catalog is None else PromptBuilder(self.tokenizer, self.prompt_config, catalog)
            texts = [e.example for e in query_examples]
            prompt = builder.inference_prompt(query, query_tools, texts, max_new_tokens=max_new_tokens)
            # The builder drops the least similar examples to fit; report only the ones it kept.
            kept = [e for e, text in zip(query_examples, texts) if text.strip() in prompt]
            requests.append(PlanRequest(query, query_tools, kept, prompt, catalog))
        return requests

    @overload
    def plan(self, queries: str, **options: Any) -> PlanResult: ...

    @overload
    def plan(self, queries: Sequence[str], **options: Any) -> list[PlanResult]: ...

    def plan(self, queries, *, tools: Sequence[Sequence[str] | None] | None = None,
             examples: int | Sequence[int] | None = None, constrain: bool = True, copy: bool = True,
             max_new_tokens: int | None = None, batch_size: int = 16, progress: bool = False):
        """One PlanResult for one query (a str), a list of them for a list of queries. ``copy=False``
        leaves the copied and derived arguments free (any value of their type), as a planner without
        them decodes."""
        single = isinstance(queries, str)
        if single and tools is not None:
            tools = [tools]  # one query's allowed tools, given as a plain list of names
        results, _ = self.plan_with_stats([queries] if single else queries, tools=tools, examples=examples,
                                          constrain=constrain, copy=copy, max_new_tokens=max_new_tokens,
                                          batch_size=batch_size, progress=progress)
        return results[0] if single else results

    def plan_with_stats(self, queries: Sequence[str], *, tools: Sequence[Sequence[str] | None] | None = None,
                        examples: int | Sequence[int] | None = None, constrain: bool = True, copy: bool = True,
                        max_new_tokens: int | None = None, batch_size: int = 16,
                        progress: bool = False) -> tuple[list[PlanResult], GenerationStats]:
        max_new_tokens = self.plan_tokens(max_new_tokens)
        requests = self.prepare(queries, tools, examples, max_new_tokens)
        plans, stats = generate_plans_with_stats(
            self.model, self.tokenizer, [r.prompt for r in requests], tools=[r.tools for r in requests],
            catalog=[self.catalog_of(r) for r in requests], constrain=constrain, max_new_tokens=max_new_tokens,
            batch_size=batch_size, progress=progress, questions=[r.query for r in requests],
            copied=self.copied_arguments if copy else None, derived=self.derived_arguments if copy else None,
        )
        results = [result_for(request, plan, count, self.catalog_of(request))
                   for request, plan, count in zip(requests, plans, stats.tokens_per_plan)]
        return results, stats

    def plan_tokens(self, max_new_tokens: int | None = None) -> int:
        """A plan's token budget: ``max_new_tokens``, or when None the planner's own (planner.json)."""
        return self.prompt_config.max_new_tokens if max_new_tokens is None else max_new_tokens

    def _example_counts(self, examples: int | Sequence[int] | None, n: int) -> list[int]:
        if examples is None:
            return [self.prompt_config.examples] * n
        counts = [examples] * n if isinstance(examples, int) else list(examples)
        if len(counts) != n or any(k < 0 for k in counts):
            raise ValueError("examples must be a count >= 0, or one per query")
        return counts

    def catalog_of(self, request: PlanRequest) -> Catalog:
        """The catalog a request's plan is written and read in."""
        return self.catalog if request.catalog is None else request.catalog

    def _choose_tools(self, queries: list[str], restrictions: list[Sequence[str] | None],
                      own: list[Catalog | None], need_embeddings: bool) -> tuple[list[list[str]], Any]:
        """Each query's tools, and the queries' embeddings when the classifier's pass gave them."""
        everything = list(self.catalog)
        if self.retriever is None:
            return [list(r) if r is not None else everything for r in restrictions], None
        if need_embeddings:
            predictions, embeddings = self.retriever.predict_tools_and_embed(queries)
        else:
            predictions, embeddings = self.retriever.predict_tools(queries), None
        chosen = []
        for predicted, allowed, catalog in zip(predictions, restrictions, own):
            if catalog is not None:  # the request's own tools, exactly: the classifier never saw some of them
                chosen.append(list(allowed))
                continue
            if allowed is not None:
                kept = [t for t in predicted if t in set(allowed)]
                predicted = kept or list(allowed)
            chosen.append(list(predicted) or everything)
        return chosen, embeddings

    def _retrieve(self, queries: list[str], tools: list[list[str]], counts: list[int], embeddings) -> list[list[Any]]:
        if self.retriever is None or max(counts, default=0) == 0:
            return [[] for _ in queries]
        # The classifier's pass already embedded the queries when the index shares its encoder. Examples
        # are chosen by the tools the index knows (a request's unseen tools have none).
        known = set(self.retriever.catalog)
        tools = [[t for t in query_tools if t in known] for query_tools in tools]
        found = self.retriever.retrieve(queries, k=max(counts), tools=tools, embeddings=embeddings)
        return [hits[:k] for hits, k in zip(found, counts)]


def result_for(request: PlanRequest, plan: str, new_tokens: int = 0, catalog: Catalog | None = None) -> PlanResult:
    """A PlanResult for ``plan``, judged by planner_eval against ``catalog`` (the built-in one by default)."""
    parsed = parse_plan(plan, catalog)
    error, _ = plan_error(parsed, catalog)
    return PlanResult(request.query, request.tools, request.examples, request.prompt, plan, error is None, error,
                      parsed.actions, new_tokens)
