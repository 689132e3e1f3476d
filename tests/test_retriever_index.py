"""Example index: tool-subset filtering, the overlap fallback, exclusions, batching and the saved form."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from retriever.index import EMBEDDINGS_FILE, ENTRIES_FILE, ExampleIndex, format_example
from retriever.labels import encode
from retriever_fixtures import HashingEmbedder

RECORDS = [
    ("r-sms", "text Ava about the budget", ["get_phone_number", "send_sms"]),
    ("r-sms2", "text Ben about lunch plans", ["get_phone_number", "send_sms"]),
    ("r-phone", "what is Ava's phone number", ["get_phone_number"]),
    ("r-email", "email Ava about the budget", ["get_email_address", "compose_new_email"]),
    ("r-note", "make a note about the budget", ["create_note"]),
    ("r-remind", "remind me about the budget", ["create_reminder"]),
    ("r-zoom", "zoom call with Ava about the budget", ["get_email_address", "get_zoom_meeting_link"]),
]


@pytest.fixture()
def index() -> ExampleIndex:
    ids, queries, tools = zip(*RECORDS)
    plans = [f"1. {t[0]}()\n2. join()<END_OF_PLAN>" for t in tools]
    embedder = HashingEmbedder()
    return ExampleIndex.build(list(ids), list(queries), list(tools), plans, embedder.encode, embedder.name)


def search(index: ExampleIndex, query: str, tools: list[str], k: int, exclude=None):
    embedding = HashingEmbedder().encode([query])
    return index.search(embedding, encode([tools]), k, None if exclude is None else [exclude])[0]


def test_only_examples_within_the_predicted_tools_when_enough(index):
    hits = search(index, "text Ava about the budget", ["get_phone_number", "send_sms"], k=3)
    assert [h.id for h in hits] == ["r-sms", "r-sms2", "r-phone"]
    assert all(set(h.tools) <= {"get_phone_number", "send_sms"} for h in hits)
    assert hits[0].score == pytest.approx(1.0)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_subset_examples_outrank_more_similar_ones_outside_the_tool_set(index):
    # The email and zoom examples share more words with the query, but use tools it was not given.
    hits = search(index, "email Ava about the budget", ["create_note"], k=1)
    assert [h.id for h in hits] == ["r-note"]


def test_fallback_fills_by_tool_overlap_then_cosine(index):
    query = "zoom call with Ava about the budget"
    hits = search(index, query, ["get_email_address", "compose_new_email", "send_sms"], k=5)
    # r-email is the only subset; r-zoom, r-sms and r-sms2 each share 1 of 4 tools (Jaccard 0.25), by
    # cosine; r-note shares no tool, so it comes after them although it is closer in words than r-sms2.
    assert [h.id for h in hits][:4] == ["r-email", "r-zoom", "r-sms", "r-sms2"]
    cosine = {h.id: h.score for h in search(index, query, list(all_tools()), k=len(RECORDS))}
    assert cosine["r-note"] > cosine["r-sms2"]
    assert hits[4].id in {"r-note", "r-remind", "r-phone"} and hits[4].id == max(
        ("r-note", "r-remind", "r-phone"), key=cosine.get
    )


def all_tools() -> set[str]:
    return {t for _, _, tools in RECORDS for t in tools}


def test_exclude_ids_are_never_returned(index):
    hits = search(index, "text Ava about the budget", ["get_phone_number", "send_sms"], k=10, exclude="r-sms")
    assert "r-sms" not in [h.id for h in hits]
    assert len(hits) == len(RECORDS) - 1
    several = search(index, "text Ava about the budget", ["get_phone_number", "send_sms"], k=10, exclude={"r-sms", "r-sms2"})
    assert {"r-sms", "r-sms2"}.isdisjoint(h.id for h in several)


def test_duplicate_queries_are_merged_and_excluded_through_any_of_their_ids():
    embedder = HashingEmbedder()
    index = ExampleIndex.build(
        ["a", "b", "c"], ["Text Ava now", "text  ava now", "remind me"], [["send_sms"], ["send_sms"], ["create_reminder"]],
        ["p", "p", "p"], embedder.encode, embedder.name,
    )
    assert len(index) == 2 and index.entries[0].duplicate_ids == ["b"]
    hits = index.search(embedder.encode(["text ava now"]), encode([["send_sms"]]), 5, ["b"])[0]
    assert [h.id for h in hits] == ["c"]


def test_batched_search_equals_one_query_at_a_time(index):
    queries = ["text Ben about lunch", "note on the budget", "zoom with Ava"]
    tools = [["get_phone_number", "send_sms"], ["create_note"], ["get_email_address", "get_zoom_meeting_link"]]
    excluded = ["r-sms2", None, {"r-zoom"}]
    batched = index.search(HashingEmbedder().encode(queries), encode(tools), 3, excluded)
    single = [search(index, q, t, 3, e) for q, t, e in zip(queries, tools, excluded)]
    assert [[h.id for h in row] for row in batched] == [[h.id for h in row] for row in single]


def test_k_beyond_the_index_returns_everything_once(index):
    hits = search(index, "anything", ["create_note"], k=50)
    assert sorted(h.id for h in hits) == sorted(r[0] for r in RECORDS)


def test_save_and_load_round_trip(index, tmp_path):
    index.save(tmp_path)
    loaded = ExampleIndex.load(tmp_path)
    assert loaded.entries == index.entries
    assert torch.equal(loaded.embeddings, index.embeddings)
    assert loaded.embedder == index.embedder
    query = HashingEmbedder().encode(["text Ava"])
    allowed = encode([["send_sms", "get_phone_number"]])
    assert loaded.search(query, allowed, 3) == index.search(query, allowed, 3)
    # Plain data on disk: a safetensors matrix and JSON entries carrying the plan.
    assert load_file(str(tmp_path / EMBEDDINGS_FILE))["embeddings"].shape == (len(RECORDS), 64)
    first = json.loads((tmp_path / ENTRIES_FILE).read_text())["examples"][0]
    assert first["plan"] == "1. get_phone_number()\n2. join()<END_OF_PLAN>"
    assert first["example"] == loaded.entries[0].example == format_example(RECORDS[0][1], first["plan"])


def test_unknown_tool_in_records_is_rejected():
    embedder = HashingEmbedder()
    with pytest.raises(ValueError, match="send_fax"):
        ExampleIndex.build(["a"], ["fax Bob"], [["send_fax"]], ["p"], embedder.encode, embedder.name)
