"""Small labelled query sets and a cheap embedder for the retriever tests (no model downloads)."""

from __future__ import annotations

import random
import zlib

import torch

NAMES = ["Ava", "Ben", "Chloe", "Diego", "Elif", "Farah", "Gus", "Hiro", "Ines", "Jon", "Kemi", "Lars"]
TOPICS = ["the budget", "lunch plans", "the launch", "rent", "the trip", "homework", "the contract", "groceries"]
PLACES = ["the airport", "Golden Gate Park", "the library", "Oakland", "the office", "Pier 39"]
FILES = ["report", "thesis", "invoice", "paper", "slides", "manual"]

# (tools, templates): the tool sets follow the catalog's conventions (look a name up before texting it, ...).
INTENTS: list[tuple[list[str], list[str]]] = [
    (["get_phone_number", "send_sms"], ["text {name} about {topic}", "send {name} a message about {topic}", "sms {name} regarding {topic}"]),
    (["get_email_address", "compose_new_email"], ["email {name} about {topic}", "write an email to {name} on {topic}", "mail {name} concerning {topic}"]),
    (["create_reminder"], ["remind me about {topic}", "set a reminder for {topic}", "don't let me forget {topic}"]),
    (["maps_show_directions"], ["directions to {place}", "how do I get to {place}", "route me to {place}"]),
    (["create_note"], ["make a note about {topic}", "create a note on {topic}", "write down a note about {topic}"]),
    (["open_and_get_file_path", "summarize_pdf"], ["summarize {file}.pdf", "give me a summary of the {file} pdf", "what does {file}.pdf say"]),
    (["get_email_address", "get_zoom_meeting_link"], ["set up a zoom call with {name}", "schedule a zoom meeting with {name}", "zoom link for a chat with {name}"]),
    (["create_calendar_event"], ["add {topic} to my calendar", "put {topic} on the calendar", "calendar event for {topic}"]),
]


def labelled_queries(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    queries, tools = [], []
    for i in range(n):
        intent_tools, templates = INTENTS[i % len(INTENTS)]
        slots = {"name": rng.choice(NAMES), "topic": rng.choice(TOPICS), "place": rng.choice(PLACES), "file": rng.choice(FILES)}
        queries.append(rng.choice(templates).format(**slots))
        tools.append(list(intent_tools))
    return queries, tools


class HashingEmbedder:
    """Bag-of-words hashed into a few dimensions: deterministic, instant, and similar texts score high."""

    name = "test-hashing"

    def __init__(self, dim: int = 64):
        self.dim = dim

    def encode(self, texts) -> torch.Tensor:
        vectors = torch.zeros(len(texts), self.dim)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return torch.nn.functional.normalize(vectors, dim=1)


def minilm_tokenizer():
    from transformers import AutoTokenizer

    from retriever.backbones import packaged_minilm_dir

    return AutoTokenizer.from_pretrained(packaged_minilm_dir())


def _tiny_head_kwargs(tool_names=None) -> dict:
    from retriever.classifier import label_maps

    id2label, label2id = label_maps(tool_names)
    return {"num_labels": len(id2label), "id2label": id2label, "label2id": label2id, "problem_type": "multi_label_classification"}


def tiny_bert_classifier(tokenizer, seed: int = 0, tool_names=None):
    """A 2-layer, 64-wide BERT with random weights that shares MiniLM's vocabulary; one output per tool
    of ``tool_names`` (the built-in catalog's by default)."""
    from transformers import BertConfig, BertForSequenceClassification

    from retriever.classifier import ToolClassifier

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=128, **_tiny_head_kwargs(tool_names),
    )
    return ToolClassifier(BertForSequenceClassification(config), tokenizer)


def tiny_deberta_classifier(tokenizer, seed: int = 0):
    """A DeBERTa-v2 (v3 architecture: relative attention, p2c/c2p) with random weights and MiniLM's vocabulary.

    DeBERTa-v3's own tokenizer needs sentencepiece; any tokenizer whose vocabulary size matches works for the model.
    """
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    from retriever.classifier import ToolClassifier

    torch.manual_seed(seed)
    config = DebertaV2Config(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, relative_attention=True, position_buckets=32,
        pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
        type_vocab_size=0, **_tiny_head_kwargs(),
    )
    return ToolClassifier(DebertaV2ForSequenceClassification(config), tokenizer)
