"""The prompt builder: tools, decoys, examples, determinism and the length budget."""

import re
from pathlib import Path

import pytest

from planner_eval.catalog import TOOL_NAMES
from planner_eval.catalog_io import read_catalog
from tinyagent_ft.models import TinyShape, build_tiny
from tinyagent_ft.prompts import PromptBuilder, PromptConfig

QUERY = "Email Sid the Q3 budget and text Nick that it is sent"
PLAN = '1. get_email_address("Sid")\n2. compose_new_email(["$1"], [], "Q3 budget", "the Q3 budget", [])\n3. join()<END_OF_PLAN>'
TRUE_TOOLS = ["get_email_address", "compose_new_email"]


@pytest.fixture(scope="module")
def tokenizer():
    _, tok = build_tiny([QUERY, PLAN] * 20, TinyShape(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                      num_attention_heads=2, num_key_value_heads=1, vocab_size=400))
    return tok


def listed_tools(prompt: str) -> list[str]:
    return [t for t in re.findall(r"^\d+\. (\w+)\(", prompt, flags=re.M) if t != "join"]


@pytest.mark.parametrize("negatives", [0, 3, 20])
def test_training_prompt_lists_true_tools_plus_exactly_the_decoys(tokenizer, negatives):
    builder = PromptBuilder(tokenizer, PromptConfig(negatives=negatives, max_length=4096))
    prompt, completion = builder.training_pair("r1", QUERY, TRUE_TOOLS, PLAN)
    tools = listed_tools(prompt)
    assert set(TRUE_TOOLS) <= set(tools) and len(tools) == len(set(tools))
    assert len(tools) == len(TRUE_TOOLS) + min(negatives, len(TOOL_NAMES) - len(TRUE_TOOLS))
    assert completion == PLAN + tokenizer.eos_token and PLAN not in prompt


def test_decoys_are_deterministic_per_seed_and_record(tokenizer):
    builder = PromptBuilder(tokenizer, PromptConfig(negatives=4, max_length=4096))
    first = builder.training_pair("r1", QUERY, TRUE_TOOLS, PLAN, seed=0)
    assert builder.training_pair("r1", QUERY, TRUE_TOOLS, PLAN, seed=0) == first
    others = {builder.training_pair(f"r{i}", QUERY, TRUE_TOOLS, PLAN, seed=1)[0] for i in range(8)}
    assert len(others) > 1  # different records draw different decoys or orders


def test_examples_are_dropped_least_similar_first_to_fit_the_budget(tokenizer):
    examples = [f"Question: example {i}\n1. get_email_address(\"P{i}\")\n2. join()<END_OF_PLAN>" for i in range(3)]
    roomy = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=0, max_length=4096))
    full = roomy.render(QUERY, TRUE_TOOLS, examples)
    two = roomy.render(QUERY, TRUE_TOOLS, examples[:2])
    tight = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=0, max_length=roomy.count(two) + 1))
    prompt = tight.fit(QUERY, TRUE_TOOLS, examples)
    assert prompt == two and full != two
    assert tight.fit(QUERY, TRUE_TOOLS, examples, reserve=10_000) is None
    with pytest.raises(ValueError):
        tight.inference_prompt(QUERY, TRUE_TOOLS, max_new_tokens=10_000)


def test_prompt_goes_through_the_chat_template_and_rejects_unknown_tools(tokenizer):
    builder = PromptBuilder(tokenizer)
    prompt = builder.inference_prompt(QUERY, ["send_sms"])
    assert prompt.endswith("Plan:\n") and "Question: " + QUERY in prompt and "send_sms(" in prompt
    with pytest.raises(ValueError, match="unknown tool"):
        builder.render(QUERY, ["launch_rockets"])


def test_names_style_lists_tool_names_only(tokenizer):
    builder = PromptBuilder(tokenizer, PromptConfig(style="names", negatives=0))
    prompt = builder.inference_prompt(QUERY, TRUE_TOOLS)
    assert "Tools: get_email_address, compose_new_email, join\n" in prompt and "(" not in prompt


def test_tiny_tokenizer_gives_a_copied_word_the_same_token_in_question_and_plan(tokenizer):
    # GPT-2's split gave " Sid" in the question and "Sid" after the plan's quote: different ids.
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    question, plan = ids("Email Sid the Q3 budget"), ids('get_email_address("Sid")')
    assert ids("Sid")[0] in question and ids("Sid")[0] in plan
    assert tokenizer.convert_ids_to_tokens(ids("2026-06-23 15:30")) == list("2026-06-23") + ["Ġ", "1", "5", ":", "3", "0"]
    assert len(ids("get_email_address")) == 1
    for text in ("José  Núñez\n\t«x»_1", "a\u0301 e\u2028"):
        assert tokenizer.decode(ids(text)) == text


HOME = read_catalog(Path(__file__).parent / "data" / "home_tools.json")
HOME_PLAN = '1. find_device("hall")\n2. set_thermostat("$1", 21.5, "heat")\n3. join()<END_OF_PLAN>'


def test_a_catalogs_prompts_show_its_tools_types_enums_and_decoys_from_it(tokenizer):
    builder = PromptBuilder(tokenizer, PromptConfig(negatives=2, max_length=4096), catalog=HOME)
    prompt, _ = builder.training_pair("r1", "warm the hall", ["find_device", "set_thermostat"], HOME_PLAN)
    tools = listed_tools(prompt)
    assert {"find_device", "set_thermostat"} <= set(tools) and len(tools) == 4 and set(tools) <= set(HOME)
    assert 'mode: "heat" | "cool" | "auto" = "auto"' in prompt and "celsius: float" in prompt
    assert "Sets a thermostat's target temperature." in prompt
    assert "email addresses" not in prompt  # the built-in catalog's advice stays with it
    assert "email addresses" in PromptBuilder(tokenizer, PromptConfig(max_length=4096)).render("q", ["send_sms"])
    compact = PromptBuilder(tokenizer, PromptConfig(style="compact", max_length=4096), catalog=HOME)
    assert "play_music(playlist: str, volume: 10 | 20 | 50, shuffle: bool)" in compact.render("q", ["play_music"])
    with pytest.raises(ValueError, match="unknown tool 'send_sms'"):
        builder.render("q", ["send_sms"])
