"""Phrasing noise on training queries (`tinyagent train --query-noise`)."""

import random
import re

from tinyagent_ft.data import generate_splits
from tinyagent_ft.data.io import record_to_row
from tinyagent_ft.train.augment import is_phrasing, noisy_query, phrasing_words

QUERY = "Can you add a note in Health called Movie watchlist saying fix the login bug on June 5 at 3pm"
PLAN = '1. create_note("Movie watchlist", "fix the login bug", "Health")\n2. join()<END_OF_PLAN>'


def plan_words(plan: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+", plan.casefold()))


def test_words_the_plan_needs_are_not_phrasing():
    words = plan_words(PLAN)
    for word in ("Health", "Movie", "watchlist", "fix", "bug", "June", "5", "3pm", "note"):
        assert not is_phrasing(word, words), word
    for word in ("Can", "you", "called", "saying", "at"):
        assert is_phrasing(word, words), word


def test_noise_changes_only_phrasing_and_keeps_every_copied_value():
    pool = ["please", "kindly"]
    noisy = [noisy_query(QUERY, PLAN, pool, 1.0, random.Random(i)) for i in range(20)]
    for query in noisy:
        for value in ("Health", "Movie watchlist", "fix the login bug", "June 5", "3pm"):
            assert value in query, (value, query)
        assert not {"Can", "called", "saying"} & set(query.split())
    assert len(set(noisy)) > 1  # drops and swaps differ from draw to draw
    assert noisy_query(QUERY, PLAN, pool, 0.0, random.Random(0)) == QUERY
    assert noisy_query(QUERY, PLAN, pool, 0.5, random.Random(3)) == noisy_query(QUERY, PLAN, pool, 0.5, random.Random(3))


def test_the_swap_pool_is_the_training_sets_phrasing():
    rows = [record_to_row(i, r) for i, r in generate_splits(200, 1, 1, seed=0)["train"].items()]
    queries, plans = [r["query"] for r in rows], [r["plan"] for r in rows]
    pool = phrasing_words(queries, plans)
    assert pool and not any(any(c.isdigit() for c in w) for w in pool)
    assert len(pool) < sum(len(q.split()) for q in queries) / 2  # values and calendar words stay out
