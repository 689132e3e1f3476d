"""The tool classifier trains (BERT and DeBERTa-v2 heads), keeps its threshold, and serves the Retriever."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from planner_eval.catalog import TOOL_NAMES
from retriever import ExampleIndex, Retriever, TrainConfig, ToolClassifier, train_classifier
from retriever.backbones import PACKAGED_MINILM
from retriever.classifier import build
from retriever.embedder import ClassifierEmbedder
from retriever.metrics import tool_set_metrics
from retriever.training import drop_words
from retriever_fixtures import HashingEmbedder, labelled_queries, minilm_tokenizer, tiny_bert_classifier, tiny_deberta_classifier


@pytest.fixture(scope="module")
def tokenizer():
    return minilm_tokenizer()


@pytest.fixture(scope="module")
def trained(tokenizer) -> ToolClassifier:
    """A tiny BERT trained from random weights on templated queries (about 80 steps)."""
    queries, tools = labelled_queries(256, seed=0)
    val_queries, val_tools = labelled_queries(64, seed=1)
    classifier = tiny_bert_classifier(tokenizer)
    config = TrainConfig(epochs=5, batch_size=16, lr=3e-3, head_lr=3e-3, freeze_embeddings=False, warmup_ratio=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threading costs more than it saves, above all on a busy machine
    try:
        history = train_classifier(classifier, queries, tools, (val_queries, val_tools), config, progress=False, log=lambda _: None)
    finally:
        torch.set_num_threads(threads)
    classifier.history = history
    return classifier


def test_training_lifts_recall_and_precision_far_above_an_untrained_head(tokenizer, trained):
    test_queries, test_tools = labelled_queries(64, seed=2)
    untrained = tool_set_metrics(tiny_bert_classifier(tokenizer, seed=1).predict(test_queries), test_tools)
    after = tool_set_metrics(trained.predict(test_queries), test_tools)
    assert after["tool_recall"] >= 0.85 and after["tool_precision"] >= 0.8
    assert after["exact_set_accuracy"] >= 0.7
    assert after["tool_precision"] - untrained["tool_precision"] >= 0.5
    history = trained.history
    assert len(history) == 5 and history[-1]["loss"] < history[0]["loss"]
    # The kept threshold is one of the tuned ones, not the untouched default.
    assert trained.threshold in {record["threshold"] for record in history}


def test_deberta_v2_classifier_trains_one_step_and_round_trips(tokenizer, tmp_path):
    classifier = tiny_deberta_classifier(tokenizer)
    before = {name: p.detach().clone() for name, p in classifier.model.named_parameters()}
    queries, tools = labelled_queries(8, seed=3)
    history = train_classifier(
        classifier, queries, tools, None, TrainConfig(epochs=1, batch_size=8, max_steps=1), progress=False
    )
    assert history[0]["steps"] == 1 and torch.isfinite(torch.tensor(history[0]["loss"]))
    changed = [name for name, p in classifier.model.named_parameters() if not torch.equal(p, before[name])]
    assert any(name.startswith("deberta.encoder") for name in changed) and "classifier.weight" in changed
    assert "deberta.embeddings.word_embeddings.weight" not in changed  # frozen by default

    classifier.threshold = 0.37
    classifier.save(tmp_path)
    loaded = ToolClassifier.load(tmp_path)
    assert type(loaded.model).__name__ == "DebertaV2ForSequenceClassification"
    assert loaded.model.config.problem_type == "multi_label_classification"
    assert [loaded.model.config.id2label[i] for i in range(16)] == list(TOOL_NAMES)
    assert loaded.threshold == pytest.approx(0.37)
    assert torch.allclose(loaded.probabilities(queries), classifier.probabilities(queries), atol=1e-6)
    assert list(tmp_path.glob("*.safetensors")) and not list(tmp_path.glob("*.bin"))


def test_a_new_head_depends_on_the_seed_only_and_leaves_the_global_stream_alone():
    state = torch.get_rng_state()
    heads = [build(PACKAGED_MINILM, PACKAGED_MINILM, seed).model.classifier.weight for seed in (0, 0, 1)]
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])
    assert torch.equal(torch.get_rng_state(), state)


def test_a_retriever_refuses_classifier_labels_out_of_catalog_order(tokenizer):
    classifier = tiny_bert_classifier(tokenizer)
    classifier.model.config.id2label = {i: name for i, name in enumerate(reversed(TOOL_NAMES))}
    embedder = HashingEmbedder()
    index = ExampleIndex.build(["r0"], ["text Gus"], [["send_sms"]], ["plan"], embedder.encode, embedder.name)
    with pytest.raises(ValueError, match="catalog order"):
        Retriever(ToolClassifier(classifier.model, tokenizer), index, embedder)


@pytest.mark.parametrize("names", [["find_device"], ["find_device", "set_thermostat", "set_lights"]])
def test_a_retriever_over_another_catalog_trains_predicts_and_round_trips(tokenizer, tmp_path, names):
    from pathlib import Path

    from planner_eval.catalog_io import CATALOG_FILE, read_catalog

    catalog = {n: t for n, t in read_catalog(Path(__file__).parent / "data" / "home_tools.json").items() if n in names}
    queries = [f"{verb} the {room}" for verb in ("find the device in", "warm", "light") for room in ("hall", "attic", "den")]
    tools = [[names[(i // 3) % len(names)]] for i in range(len(queries))]
    classifier = tiny_bert_classifier(tokenizer, tool_names=names)
    assert classifier.tool_names == tuple(names)
    train_classifier(classifier, queries, tools, config=TrainConfig(epochs=1, batch_size=4), progress=False, log=lambda _: None)
    embedder = ClassifierEmbedder(classifier)
    index = ExampleIndex.build([str(i) for i in range(len(queries))], queries, tools, ["p"] * len(queries),
                               embedder.encode, embedder.name, classifier.tool_names)
    retriever = Retriever(classifier, index, embedder, catalog=catalog)
    predicted, embeddings = retriever.predict_tools_and_embed(queries[:2])
    assert all(p and set(p) <= set(names) for p in predicted) and embeddings is not None
    hits = retriever.retrieve(queries[:2], k=2, tools=predicted, embeddings=embeddings)
    assert [[h.id for h in row] for row in hits] == [[h.id for h in row] for row in retriever.retrieve(queries[:2], k=2, tools=predicted)]
    retriever.save(tmp_path)
    assert list(read_catalog(tmp_path / CATALOG_FILE)) == names
    loaded = Retriever.load(tmp_path)
    assert list(loaded.catalog) == names and loaded.predict_tools(queries[:2]) == retriever.predict_tools(queries[:2])


def test_retriever_predicts_retrieves_and_round_trips(trained, tmp_path):
    queries, tools = labelled_queries(48, seed=4)
    embedder = HashingEmbedder()
    index = ExampleIndex.build([f"r{i}" for i in range(48)], queries, tools, ["plan"] * 48, embedder.encode, embedder.name)
    retriever = Retriever(trained, index, embedder)
    probe = ["text Gus about rent", "summarize manual.pdf", "set a reminder for the trip"]
    predicted = retriever.predict_tools(probe)
    assert predicted == [["get_phone_number", "send_sms"], ["open_and_get_file_path", "summarize_pdf"], ["create_reminder"]]
    hits = retriever.retrieve(probe, k=3, exclude_ids=["r0", None, None])
    for row, tools_row in zip(hits, predicted):
        assert len(row) == 3 and all(set(hit.tools) <= set(tools_row) for hit in row)
    assert "r0" not in [hit.id for hit in hits[0]]
    gold_hits = retriever.retrieve(probe[:1], k=2, tools=[["create_note"]])[0]
    assert all(hit.tools == ["create_note"] for hit in gold_hits)

    retriever.save(tmp_path)
    loaded = Retriever.load(tmp_path, embedder=HashingEmbedder())
    assert loaded.predict_tools(probe) == predicted
    assert loaded.retrieve(probe, k=3, exclude_ids=["r0", None, None]) == hits
    answer = loaded.query("text Gus about rent", k=2)
    assert answer["tools"] == ["get_phone_number", "send_sms"]
    assert [set(e) for e in answer["examples"]] == [{"id", "query", "tools", "score"}] * 2


def test_retriever_loads_and_classifies_without_its_embedder_until_it_retrieves(trained, tmp_path, monkeypatch):
    # A planner without in-context examples never retrieves: it must not need the example encoder.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    queries, tools = labelled_queries(8, seed=5)
    embedder = HashingEmbedder()
    index = ExampleIndex.build([f"r{i}" for i in range(8)], queries, tools, ["plan"] * 8, embedder.encode, "nobody/no-such-embedder")
    Retriever(trained, index, embedder).save(tmp_path)
    loaded = Retriever.load(tmp_path)
    assert loaded.predict_tools(["text Gus about rent"]) == [["get_phone_number", "send_sms"]]
    with pytest.raises(OSError, match="nobody/no-such-embedder"):
        loaded.retrieve(["text Gus about rent"], k=1)


def test_shared_encoder_retrieval_equals_two_separate_passes_and_round_trips(trained, tmp_path):
    queries, tools = labelled_queries(48, seed=6)
    embedder = ClassifierEmbedder(trained)
    index = ExampleIndex.build([f"r{i}" for i in range(48)], queries, tools, ["plan"] * 48, embedder.encode, embedder.name)
    retriever = Retriever(trained, index, embedder)
    probe = ["text Gus about rent", "summarize manual.pdf", queries[5]]
    probabilities, vectors = trained.probabilities_and_embeddings(probe)
    assert torch.equal(probabilities, trained.probabilities(probe))
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3))
    # Padding must not leak into the mean: a query embeds the same alone and beside longer ones.
    assert torch.allclose(embedder.encode(probe[:1])[0], vectors[0], atol=1e-5)
    separate = index.search(embedder.encode(probe), trained.predict_hot(probe), 3)
    hits = retriever.retrieve(probe, k=3)
    assert hits == separate
    assert hits[2][0].query == queries[5] and hits[2][0].score == pytest.approx(1.0, abs=1e-5)

    retriever.save(tmp_path)
    loaded = Retriever.load(tmp_path)
    assert isinstance(loaded.embedder, ClassifierEmbedder) and loaded.embedder.classifier is loaded.classifier
    assert [[h.id for h in row] for row in loaded.retrieve(probe, k=3)] == [[h.id for h in row] for row in hits]


def test_word_dropout_keeps_order_and_never_empties_a_query():
    rng = random.Random(0)
    text = "text Ava about the budget tonight"
    dropped = [drop_words(text, 0.5, rng) for _ in range(50)]
    assert any(d != text for d in dropped)
    for d in dropped:
        words = d.split()
        assert words and words == [w for w in text.split() if w in words]
    assert drop_words(text, 0.0, rng) == text
    assert drop_words("one", 1.0, rng) == "one"


def test_int8_retriever_keeps_predictions_and_refuses_to_save(trained, tmp_path):
    queries, tools = labelled_queries(32, seed=5)
    embedder = HashingEmbedder()
    index = ExampleIndex.build([str(i) for i in range(32)], queries, tools, ["plan"] * 32, embedder.encode, embedder.name)
    retriever = Retriever(ToolClassifier(copy.deepcopy(trained.model), trained.tokenizer, trained.threshold), index, embedder)
    before = retriever.classifier.probabilities(queries)
    assert retriever.quantize_int8() == []
    assert any("quantized" in type(m).__module__ for m in retriever.classifier.model.modules())
    assert (retriever.classifier.probabilities(queries) - before).abs().max() < 0.1
    with pytest.raises(ValueError, match="inference only"):
        retriever.save(tmp_path)
