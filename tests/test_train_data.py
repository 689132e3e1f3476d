"""Training data for `tinyagent train`: prompt contents, completion-only labels, padding."""

import re

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaForCausalLM

from planner_eval.catalog import TOOL_NAMES
from retriever import Retriever
from retriever.index import format_example
from tinyagent_ft.data import load_split
from tinyagent_ft.models import build_tiny
from tinyagent_ft.prompts import PromptBuilder, PromptConfig
from tinyagent_ft.train import IGNORE_INDEX, build_training_set, training_pairs
from tinyagent_ft.train.dataset import pair_lengths
from tinyagent_ft.train.collator import KEPT_MULTIPLE, CompletionCollator, slices_logits_by_mask
from train_fixtures import TEST_SHAPE, write_data, write_retriever


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_data")
    data = write_data(root / "data")
    rows = load_split(data, "train")
    retriever = Retriever.load(write_retriever(data, root / "retriever"))
    _, tokenizer = build_tiny(list(rows["query"]) + list(rows["plan"]), TEST_SHAPE)
    return rows, retriever, tokenizer


def listed_tools(prompt: str) -> list[str]:
    tools_section = prompt.split("Examples:")[0]
    return [t for t in re.findall(r"^(\w+)\(", tools_section, flags=re.M) if t != "join"]


@pytest.mark.parametrize("negatives", [0, 3])
def test_prompts_hold_the_true_tools_the_decoys_and_never_the_record_itself(workspace, negatives):
    rows, retriever, tokenizer = workspace
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=negatives, examples=3, max_length=4096))
    pairs, skipped = training_pairs(rows, builder, retriever, seed=7)
    assert skipped == 0 and [p.id for p in pairs] == rows["id"]
    for pair, row in zip(pairs, rows):
        tools = listed_tools(pair.prompt)
        assert set(row["tools"]) <= set(tools) and len(tools) == len(set(tools))
        assert len(tools) == len(set(row["tools"])) + min(negatives, len(TOOL_NAMES) - len(set(row["tools"])))
        system = pair.prompt.split("Question: " + " ".join(row["query"].split()))[0]
        assert system.count("Question: ") == 3  # three retrieved examples ...
        assert format_example(row["query"], row["plan"]) not in system  # ... none of them the record
        assert pair.completion == row["plan"].strip() + tokenizer.eos_token
    assert training_pairs(rows, builder, retriever, seed=7)[0] == pairs  # deterministic for a seed


def test_labels_mask_the_prompt_and_keep_exactly_the_completion(workspace):
    rows, retriever, tokenizer = workspace
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=2, examples=1, max_length=4096))
    pairs, _ = training_pairs(rows.select(range(8)), builder, retriever)
    dataset = build_training_set(pairs, tokenizer)
    for pair, example in zip(pairs, dataset):
        prompt_ids = tokenizer(pair.prompt, add_special_tokens=False)["input_ids"]
        n = len(prompt_ids)
        assert example["input_ids"][:n] == prompt_ids and example["length"] == len(example["input_ids"])
        assert example["labels"][:n] == [IGNORE_INDEX] * n and IGNORE_INDEX not in example["labels"][n:]
        assert example["labels"][n:] == example["input_ids"][n:]
        assert example["labels"][-1] == tokenizer.eos_token_id
        assert tokenizer.decode(example["labels"][n:]) == pair.completion


def test_pair_lengths_are_the_builders_token_counts(workspace):
    # token_budgets reads them from the tokenized set instead of tokenizing every pair again.
    rows, retriever, tokenizer = workspace
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=2, examples=1, max_length=4096))
    pairs, _ = training_pairs(rows.select(range(8)), builder, retriever)
    prompts, plans = pair_lengths(build_training_set(pairs, tokenizer))
    assert prompts == [builder.count(p.prompt) for p in pairs]
    assert plans == [builder.count(p.completion) for p in pairs]
    assert min(plans) > 0 and len(set(prompts)) > 1


def four_examples(workspace) -> list[dict]:
    """The first four training records as the collator receives them (compact prompts, no examples)."""
    rows, retriever, tokenizer = workspace
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=0, examples=0, max_length=4096))
    return list(build_training_set(training_pairs(rows.select(range(4)), builder, retriever)[0], tokenizer))


def test_collator_pads_to_the_longest_on_the_right_with_pads_out_of_the_loss(workspace):
    tokenizer = workspace[2]
    features = four_examples(workspace)
    batch = CompletionCollator(tokenizer.pad_token_id)(features)
    lengths = [f["length"] for f in features]
    assert batch["input_ids"].shape == (4, max(lengths)) and set(batch) == {"input_ids", "labels", "attention_mask"}
    for row, n in enumerate(lengths):
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (max(lengths) - n)
        assert torch.all(batch["input_ids"][row, n:] == tokenizer.pad_token_id)
        assert torch.all(batch["labels"][row, n:] == IGNORE_INDEX)
        assert batch["labels"][row, :n].tolist() == features[row]["labels"]


def test_collator_pads_to_a_multiple_and_trains_on_the_same_tokens(workspace):
    tokenizer = workspace[2]
    features = four_examples(workspace)
    plain = CompletionCollator(tokenizer.pad_token_id)(features)
    padded = CompletionCollator(tokenizer.pad_token_id, pad_to_multiple_of=16)(features)
    longest = plain["input_ids"].shape[1]
    assert padded["input_ids"].shape[1] % 16 == 0 and longest <= padded["input_ids"].shape[1] < longest + 16
    for key in ("input_ids", "labels", "attention_mask"):
        assert torch.equal(padded[key][:, :longest], plain[key])
    assert not padded["attention_mask"][:, longest:].any() and torch.all(padded["labels"][:, longest:] == IGNORE_INDEX)


def test_logits_of_labelled_positions_only_train_as_every_logit_does(workspace):
    tokenizer = workspace[2]
    features = four_examples(workspace)
    every = CompletionCollator(tokenizer.pad_token_id)(features)
    labelled = CompletionCollator(tokenizer.pad_token_id, label_logits_only=True)(features)
    rounded = CompletionCollator(tokenizer.pad_token_id, pad_to_multiple_of=16, label_logits_only=True)(features)
    n_labels = sum(sum(label != IGNORE_INDEX for label in f["labels"]) for f in features)
    assert labelled["shift_labels"].numel() == n_labels == int(labelled["logits_to_keep"].sum())
    assert n_labels < every["input_ids"].numel() / 3  # the prompt is most of each sequence
    kept = int(rounded["logits_to_keep"].sum())
    assert kept % KEPT_MULTIPLE == 0 and n_labels <= kept < n_labels + KEPT_MULTIPLE
    assert rounded["shift_labels"].numel() == kept
    assert int((rounded["shift_labels"] != IGNORE_INDEX).sum()) == n_labels
    torch.manual_seed(0)
    model = LlamaForCausalLM(TEST_SHAPE.llama_config(vocab_size=len(tokenizer)))
    losses, grads = [], []
    for batch in (every, labelled, rounded):
        model.zero_grad()
        out = model(**batch)
        out.loss.backward()
        losses.append(out.loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        rows = int(batch["logits_to_keep"].sum()) if "logits_to_keep" in batch else batch["input_ids"].numel()
        assert out.logits.flatten(0, -2).shape == (rows, len(tokenizer))
    for loss, grad in zip(losses[1:], grads[1:]):
        assert loss == pytest.approx(losses[0], rel=1e-5)
        torch.testing.assert_close(grad, grads[0], rtol=1e-4, atol=1e-6)


def test_only_a_model_that_slices_logits_by_mask_is_given_one():
    class OwnForward(torch.nn.Module):
        def forward(self, input_ids, logits_to_keep=0):
            return input_ids[:, -logits_to_keep:]

    llama = LlamaForCausalLM(TEST_SHAPE.llama_config())
    assert slices_logits_by_mask(llama)
    assert slices_logits_by_mask(get_peft_model(llama, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")))
    assert not slices_logits_by_mask(OwnForward())


def test_a_record_that_cannot_fit_is_skipped_not_truncated(workspace):
    rows, retriever, tokenizer = workspace
    builder = PromptBuilder(tokenizer, PromptConfig(style="compact", negatives=0, examples=0, max_length=16))
    pairs, skipped = training_pairs(rows.select(range(4)), builder, retriever)
    assert pairs == [] and skipped == 4


def test_query_noise_changes_training_prompts_never_completions(workspace):
    rows, retriever, tokenizer = workspace
    builder = PromptBuilder(tokenizer, PromptConfig(style="names", negatives=2, examples=0, max_length=4096))
    clean, _ = training_pairs(rows, builder, retriever, seed=1)
    noisy, _ = training_pairs(rows, builder, retriever, seed=1, query_noise=0.3)
    assert [p.completion for p in noisy] == [p.completion for p in clean]
    changed = sum(n.prompt != c.prompt for n, c in zip(noisy, clean))
    assert 0.3 * len(rows) < changed < len(rows)
    assert training_pairs(rows, builder, retriever, seed=1, query_noise=0.3)[0] == noisy
