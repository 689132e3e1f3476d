"""Plan generation shared by evaluation, per-epoch validation and serving: batched greedy decoding with
left padding and the KV cache, constrained by default to each prompt's plan grammar
(`tinyagent_ft.grammar`), ending at `<END_OF_PLAN>`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from planner_eval.catalog import Catalog
from planner_eval.plan import END_OF_PLAN


@dataclass
class GenerationStats:
    plans: int = 0
    new_tokens: int = 0  # generated tokens, end-of-sequence included, padding excluded
    seconds: float = 0.0  # wall time of the generate() calls
    constrained: bool = True
    forced_tokens: int = 0  # tokens chosen by the grammar's closing walk near the token budget
    grammar_seconds: float = 0.0  # part of ``seconds`` spent masking logits to the grammar
    steps: int = 0  # decoding steps: a batch runs until its longest plan ends, its finished rows padded
    tokens_per_plan: list[int] = field(default_factory=list)  # new tokens of each plan, in the prompts' order

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {"plans": self.plans, "new_tokens": self.new_tokens, "seconds": round(self.seconds, 3),
                "tokens_per_second": round(self.tokens_per_second, 2), "constrained": self.constrained,
                "forced_tokens": self.forced_tokens, "grammar_seconds": round(self.grammar_seconds, 3),
                "steps": self.steps, "ms_per_step": round(1000 * self.seconds / self.steps, 3) if self.steps else 0.0}


def cut_at_end_marker(text: str) -> str:
    """The plan up to and including `<END_OF_PLAN>` (all of ``text`` when the marker is missing)."""
    end = text.find(END_OF_PLAN)
    return text if end < 0 else text[: end + len(END_OF_PLAN)]


def _length_order(tokenizer, prompts: Sequence[str]) -> list[int]:
    # Similar lengths in one batch waste less on padding; the answer keeps the callers' order.
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]
    return sorted(range(len(prompts)), key=lambda i: lengths[i])


def generate_plans(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    tools: Sequence[Sequence[str]] | None = None,
    catalog: Catalog | None = None,
    constrain: bool = True,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    progress: bool = False,
    streamer=None,
    generation_kwargs: dict | None = None,
    questions: Sequence[str] | None = None,
    copied: Mapping[str, Sequence[str]] | None = None,
    derived: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> list[str]:
    """Plan text (through `<END_OF_PLAN>`, stripped) for each prompt, in the prompts' order.

    With ``constrain`` (the default) ``tools[i]`` lists the tools of prompt i and the plan is decoded
    inside their grammar, built from ``catalog``'s argument types (the built-in catalog by default): it
    always parses, names only those tools (and join), gives each argument a value of its type, references
    only earlier actions and ends within ``max_new_tokens``. ``copied`` (tool -> argument names,
    `tinyagent_ft.copying`) holds those arguments' strings to spans of ``questions[i]``, prompt i's
    question; ``derived`` (tool -> argument -> kinds, `tinyagent_ft.moments`) holds those arguments to the
    stamps or durations that question says. ``streamer`` (a transformers streamer) takes one prompt.
    """
    plans, _ = generate_plans_with_stats(
        model, tokenizer, prompts, tools=tools, catalog=catalog, constrain=constrain, max_new_tokens=max_new_tokens,
        batch_size=batch_size, progress=progress, streamer=streamer, generation_kwargs=generation_kwargs,
        questions=questions, copied=copied, derived=derived,
    )
    return plans


@torch.inference_mode()
def generate_plans_with_stats(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    tools: Sequence[Sequence[str]] | None = None,
    catalog: Catalog | Sequence[Catalog | None] | None = None,
    constrain: bool = True,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    progress: bool = False,
    streamer=None,
    generation_kwargs: dict | None = None,
    questions: Sequence[str] | None = None,
    copied: Mapping[str, Sequence[str]] | None = None,
    derived: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> tuple[list[str], GenerationStats]:
    """`generate_plans` plus token counts and timing; ``generation_kwargs`` go to `model.generate` as
    they are (sampling settings, say: the default is greedy). ``catalog`` may also be one per prompt."""
    catalogs = _row_catalogs(catalog, len(prompts))
    if (copied or derived) and (questions is None or len(questions) != len(prompts)):
        raise ValueError("copied and derived arguments need the questions: one per prompt")
    questions = list(questions) if copied or derived else [""] * len(prompts)
    _check_arguments(prompts, tools, catalogs, constrain, streamer, max_new_tokens, batch_size, copied, derived,
                     questions)
    grammars = _grammar_cache(model, tokenizer) if constrain else None
    row_grammars = [grammars.get(row_tools, row_catalog, copied, question, derived)
                    for row_tools, row_catalog, question in zip(tools, catalogs, questions)] if constrain else None
    plans: list[str] = [""] * len(prompts)
    stats = GenerationStats(plans=len(prompts), constrained=constrain, tokens_per_plan=[0] * len(prompts))
    order = _length_order(tokenizer, prompts)
    was_training = model.training
    model.eval()
    try:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in tqdm(batches, desc="generate", unit="batch", disable=not progress):
            processor = None
            if constrain:
                from tinyagent_ft.grammar import PlanLogitsProcessor

                processor = PlanLogitsProcessor(grammars, [row_grammars[i] for i in batch], max_new_tokens)
            texts, counts = _generate_batch(model, tokenizer, [prompts[i] for i in batch], max_new_tokens, processor,
                                            streamer, generation_kwargs or {}, stats)
            for i, text, count in zip(batch, texts, counts):
                plans[i] = cut_at_end_marker(text).strip()
                stats.tokens_per_plan[i] = count
    finally:
        model.train(was_training)
    return plans, stats


def _row_catalogs(catalog, n: int) -> list:
    if catalog is None or isinstance(catalog, Mapping):
        return [catalog] * n
    catalogs = list(catalog)
    if len(catalogs) != n:
        raise ValueError(f"{n} prompts but {len(catalogs)} catalogs")
    return catalogs


def _check_arguments(prompts, tools, catalogs, constrain, streamer, max_new_tokens, batch_size, copied, derived,
                     questions) -> None:
    if constrain and (tools is None or len(tools) != len(prompts)):
        raise ValueError("constrained generation needs tools: one list of tool names per prompt")
    if streamer is not None and len(prompts) != 1:
        raise ValueError(f"a streamer takes exactly one prompt, got {len(prompts)}")
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError("max_new_tokens and batch_size must be positive")
    if constrain:
        from tinyagent_ft.grammar import plan_reserve

        needed = max((plan_reserve(row_tools, row_catalog, copied, question, derived)
                      for row_tools, row_catalog, question in zip(tools, catalogs, questions)), default=0)
        if max_new_tokens < needed:
            raise ValueError(f"max_new_tokens={max_new_tokens} is below the {needed} tokens a constrained plan "
                             "over these tools may need to close; raise it")


def _grammar_cache(model, tokenizer):
    from tinyagent_ft.grammar import plan_grammars

    # The mask must cover the model's whole output layer, which may be padded past the tokenizer.
    return plan_grammars(tokenizer, model.get_output_embeddings().weight.shape[0])


def _generate_batch(model, tokenizer, prompts: list[str], max_new_tokens: int, processor, streamer,
                    generation_kwargs: dict, stats: GenerationStats) -> tuple[list[str], list[int]]:
    # Generation appends on the right, so pads go left; asked per call, as the server may share the tokenizer
    # between threads.
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left",
                       add_special_tokens=False).to(model.device)
    settings = {"do_sample": False, **generation_kwargs}
    if processor is not None:
        # The grammar ends every plan with <END_OF_PLAN> then end-of-sequence; a stop string would cut
        # a row short of the end-of-sequence token its grammar matcher still expects. The grammar masks
        # last, after any caller's processors.
        settings["logits_processor"] = [*settings.get("logits_processor", []), processor]
    else:
        settings.update(stop_strings=[END_OF_PLAN], tokenizer=tokenizer)
    start = time.perf_counter()
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, streamer=streamer, **settings,
    )
    stats.seconds += time.perf_counter() - start
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    stats.steps += new_tokens.shape[1]
    counts = _count_generated(new_tokens, tokenizer)
    stats.new_tokens += sum(counts)
    if processor is not None:
        stats.forced_tokens += processor.forced_tokens
        stats.grammar_seconds += processor.seconds
    return tokenizer.batch_decode(new_tokens, skip_special_tokens=True), counts


def _count_generated(new_tokens: torch.Tensor, tokenizer) -> list[int]:
    """Tokens each row generated: up to and including its end-of-sequence, before its padding."""
    counts = []
    for row in new_tokens.tolist():
        length = len(row)
        for position, token in enumerate(row):
            if token == tokenizer.eos_token_id:
                length = position + 1
                break
            if token == tokenizer.pad_token_id:
                length = position
                break
        counts.append(length)
    return counts
