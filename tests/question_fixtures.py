"""Shared by the tests of question-bound decoding (copied and derived arguments): generated records, a
tiny random planner whose tokenizer is trained on them, and a grammar check on a whole plan."""

from __future__ import annotations

import xgrammar

from tinyagent_ft.data import generate_splits
from tinyagent_ft.grammar import plan_grammars
from tinyagent_ft.models import TinyShape, build_tiny
from tinyagent_ft.prompts import PromptBuilder, PromptConfig

TINY = TinyShape(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=500)


def training_records(n: int) -> list[dict]:
    return list(generate_splits(n, 0, 0, seed=0)["train"].values())


def query_and_plan(record) -> tuple[str, str]:
    return record["input"], next(step["raw_output"] for step in record["output"] if step["type"] == "plan")


def tiny_planner(records: list[dict]):
    """(model, tokenizer): a random tiny Llama whose tokenizer is trained on 60 records."""
    texts = [text for record in records[:60] for text in query_and_plan(record)]
    return build_tiny(texts, TINY, seed=0)


def grammar_accepts(tokenizer, tools: list[str], plan: str, question: str, copied=None, derived=None) -> bool:
    """Whether the plan grammar of ``tools`` for ``question`` accepts ``plan`` whole."""
    grammar = plan_grammars(tokenizer, len(tokenizer)).get(tools, None, copied, question, derived)
    matcher = xgrammar.GrammarMatcher(grammar.compiled)
    return matcher.accept_string(plan) and matcher.is_completed()


def compact_prompts(tokenizer, questions: list[str], tools: list[str]) -> list[str]:
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=1024))
    return [builder.inference_prompt(q, tools) for q in questions]
