"""Phrasing noise on training queries (`tinyagent train --query-noise`)."""

import random

from planner_eval.catalog import default_catalog
from tinyagent_ft.data import generate_splits
from tinyagent_ft.data.io import record_to_row
from tinyagent_ft.train.augment import intent_words, is_phrasing, needed_words, noisy_query, phrasing_words

QUERY = "Can you add a note in Health called Movie watchlist saying fix the login bug on June 5 at 3pm"
PLAN = '1. create_note("Movie watchlist", "fix the login bug", "Health")\n2. join()<END_OF_PLAN>'


def test_words_the_plan_needs_are_not_phrasing():
    words = needed_words(PLAN)
    for word in ("Health", "Movie", "watchlist", "fix", "bug", "June", "5", "3pm", "note"):
        assert not is_phrasing(word, words), word
    for word in ("Can", "you", "called", "saying", "at"):
        assert is_phrasing(word, words), word


def test_noise_changes_only_phrasing_and_keeps_every_copied_value():
    pool = ["please", "kindly"]
    noisy = [noisy_query(QUERY, needed_words(PLAN), pool, 1.0, random.Random(i)) for i in range(20)]
    for query in noisy:
        for value in ("Health", "Movie watchlist", "fix the login bug", "June 5", "3pm"):
            assert value in query, (value, query)
        assert not {"Can", "called", "saying"} & set(query.split())
    assert len(set(noisy)) > 1  # drops and swaps differ from draw to draw
    needed = needed_words(PLAN)
    assert noisy_query(QUERY, needed, pool, 0.0, random.Random(0)) == QUERY
    assert noisy_query(QUERY, needed, pool, 0.5, random.Random(3)) == noisy_query(QUERY, needed, pool, 0.5, random.Random(3))


def test_words_that_tell_the_tools_apart_survive_the_noise():
    intent = intent_words(default_catalog())
    assert "new" in intent["create_note"] and "existing" in intent["append_note_content"]
    assert not {"the", "in", "app"} & (intent["create_note"] | intent["append_note_content"])
    query = "new note Plans in my Work folder: call Ann"
    plan = '1. create_note("Plans", "call Ann", "Work")\n2. join()<END_OF_PLAN>'
    kept = needed_words(plan, ["create_note"], intent)
    assert all("new" in noisy_query(query, kept, ["so"], 1.0, random.Random(i)).split() for i in range(20))
    assert any("new" not in noisy_query(query, needed_words(plan), ["so"], 1.0, random.Random(i)).split()
               for i in range(20))


def test_the_swap_pool_is_the_training_sets_phrasing():
    rows = [record_to_row(i, r) for i, r in generate_splits(200, 1, 1, seed=0)["train"].items()]
    queries, intent = [r["query"] for r in rows], intent_words(default_catalog())
    pool = phrasing_words(queries, [needed_words(r["plan"], r["tools"], intent) for r in rows])
    assert pool and not any(any(c.isdigit() for c in w) for w in pool)
    assert len(pool) < sum(len(q.split()) for q in queries) / 2  # values and calendar words stay out
