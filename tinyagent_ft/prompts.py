"""The planner prompt: one builder for training, evaluation and serving, so the three never drift apart.

A prompt is a system message (instructions, the numbered tools with `join` last, guidelines and
in-context examples) and a user message holding the question; the completion is the plan text
through `<END_OF_PLAN>` followed by the tokenizer's end-of-sequence token. A tokenizer with a chat
template renders the two messages through it; one without (a base model such as TinyLlama-1.1B)
gets them as plain text.

Training prompts list the record's true tools plus `negatives` decoys drawn at random from the catalog,
shuffled; inference prompts list the retriever's predicted tools. The catalog (the built-in TinyAgent
tools unless one is given) supplies every tool line: signature, types, defaults, enums, description. The builder itself fits a prompt to the
length budget, dropping the least similar in-context examples first and never the completion: a
trainer's own truncation would cut the completion, which is the only part with a loss.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from planner_eval.catalog import JOIN, Catalog, default_catalog, describe_tools

STYLES = ("full", "compact", "names")

_INSTRUCTIONS = (
    "You turn a user's request into a plan of function calls for an on-device assistant. "
    "Write the calls as a numbered list; calls that do not depend on each other can run in parallel."
)
_GUIDELINES = (
    "Guidelines:\n"
    "- Write each call as `N. tool(arg1, arg2, ...)`: arguments are positional Python literals "
    "in the order of the tool's signature.\n"
    '- To pass the result of call N to a later call, write the string "$N" as the argument '
    "(alone or inside a list).\n"
    "- Use only the tools listed above, and only those the request needs.\n"
)
# Advice about the built-in TinyAgent tools only; another catalog's prompts leave it out.
_TINYAGENT_GUIDELINES = (
    "- Look up email addresses and phone numbers before using them.\n"
    "- Dates and times are 'YYYY-MM-DD HH:MM:SS'.\n"
)
_END_GUIDELINE = f"- End with `{JOIN}()` and then <END_OF_PLAN>."


# A plan's token budget before planners recorded their own, and the least a trained planner records.
DEFAULT_PLAN_TOKENS = 256


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are built. ``style="compact"`` lists tool signatures without descriptions or
    guidelines, a tenth of the tokens; ``"names"`` lists tool names only, leaving argument order to
    be learnt from the plans: the shortest prompt, for small models trained from scratch on a CPU."""

    style: str = "full"
    negatives: int = 2  # decoy tools added to a training prompt
    examples: int = 3  # in-context examples (k)
    max_length: int = 2048  # prompt + completion, in tokens
    # A plan's token budget at inference (Planner.plan's default max_new_tokens): `tinyagent train` sets
    # it from the training plans; planners saved before it existed keep the default.
    max_new_tokens: int = DEFAULT_PLAN_TOKENS

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"prompt style must be one of {STYLES}, got {self.style!r}")
        if self.negatives < 0 or self.examples < 0 or self.max_length < 16 or self.max_new_tokens < 1:
            raise ValueError("negatives and examples must be >= 0, max_length >= 16 and max_new_tokens >= 1")


def training_tools(true_tools: Sequence[str], negatives: int, rng: random.Random,
                   catalog: Catalog | None = None) -> list[str]:
    """The record's tools plus ``negatives`` others from the catalog (the built-in one by default), shuffled."""
    catalog = default_catalog() if catalog is None else catalog
    others = [name for name in catalog if name not in set(true_tools)]
    tools = list(dict.fromkeys(true_tools)) + rng.sample(others, min(negatives, len(others)))
    rng.shuffle(tools)
    return tools


def record_rng(seed: int, record_id: str) -> random.Random:
    # String seeds hash with SHA-512, so the draw is the same in every process and run.
    return random.Random(f"{seed}:{record_id}")


def system_text(tools: Sequence[str], examples: Sequence[str], style: str, catalog: Catalog | None = None) -> str:
    catalog = default_catalog() if catalog is None else catalog
    unknown = [t for t in tools if t not in catalog]
    if unknown:
        raise ValueError(f"unknown tool {unknown[0]!r} in a prompt")
    if style == "names":
        parts = ["Tools: " + ", ".join([*tools, JOIN])]
    elif style == "compact":
        parts = ["Tools:\n" + "\n".join(catalog[t].signature() for t in tools) + f"\n{JOIN}()"]
    else:
        parts = [_INSTRUCTIONS, "Tools:\n" + "\n".join(describe_tools(list(tools), catalog)), guidelines(catalog)]
    if examples:
        parts.append("Examples:\n" + "\n\n".join(e.strip() for e in examples))
    return "\n\n".join(parts)


def guidelines(catalog: Catalog) -> str:
    # A request's catalog extends the planner's: the built-in tools' advice stays while they are all there.
    builtin = default_catalog()
    kept = catalog is builtin or all(catalog.get(name) is tool for name, tool in builtin.items())
    specific = _TINYAGENT_GUIDELINES if kept else ""
    return _GUIDELINES + specific + _END_GUIDELINE


def user_text(query: str) -> str:
    return f"Question: {' '.join(query.split())}"


class PromptBuilder:
    """Renders planner prompts with a tokenizer and fits them to ``config.max_length`` tokens."""

    def __init__(self, tokenizer, config: PromptConfig | None = None, catalog: Catalog | None = None):
        self.tokenizer = tokenizer
        self.config = config or PromptConfig()
        self.catalog = default_catalog() if catalog is None else catalog

    def render(self, query: str, tools: Sequence[str], examples: Sequence[str] = ()) -> str:
        system, user = system_text(tools, examples, self.config.style, self.catalog), user_text(query)
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{system}\n\n{user}\nPlan:\n"

    def completion(self, plan: str) -> str:
        return plan.strip() + (self.tokenizer.eos_token or "")

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def fit(self, query: str, tools: Sequence[str], examples: Sequence[str] = (), reserve: int = 0) -> str | None:
        """The prompt with as many of ``examples`` (most similar first) as fit ``max_length - reserve``
        tokens, or None when even the prompt without examples does not fit."""
        budget = self.config.max_length - reserve
        kept = list(examples[: self.config.examples])
        while True:
            prompt = self.render(query, tools, kept)
            if self.count(prompt) <= budget:
                return prompt
            if not kept:
                return None
            kept.pop()

    def inference_prompt(self, query: str, tools: Sequence[str], examples: Sequence[str] = (),
                         max_new_tokens: int = 0) -> str:
        """A prompt for generation; raises ValueError when the query alone overflows the budget."""
        prompt = self.fit(query, tools, examples, reserve=max_new_tokens)
        if prompt is None:
            raise ValueError(f"the query and its {len(tools)} tools do not fit {self.config.max_length} tokens")
        return prompt

    def training_pair(self, record_id: str, query: str, true_tools: Sequence[str], plan: str,
                      examples: Sequence[str] = (), seed: int = 0) -> tuple[str, str] | None:
        """(prompt, completion) for one record, deterministic for (seed, record_id); None if it cannot fit.

        ``examples`` must already exclude the record itself (the retriever's ``exclude_ids``)."""
        tools = training_tools(true_tools, self.config.negatives, record_rng(seed, record_id), self.catalog)
        completion = self.completion(plan)
        prompt = self.fit(query, tools, examples, reserve=self.count(completion))
        return None if prompt is None else (prompt, completion)
