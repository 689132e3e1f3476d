"""Phrasing noise for training queries (`tinyagent train --query-noise RATE`).

A planner trained from scratch learns each phrasing template whole: on the generated data it plans
0.88 of the test queries phrased like training's and 0.56 of those phrased by held-out templates
(README). Noise on the words that only phrase the request (dropped, or swapped for phrasing words of
other requests) makes the model find the values and key words wherever they stand. Words the plan
needs are left alone: those it copies, anything with a digit, and calendar words, which the plan
converts rather than copies ("June 5, 3pm" -> "2026-06-05 15:00:00").
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    # "a", "p" and "m" are what "a.m." and "p.m." split into
    "saturday sunday today tomorrow tonight morning afternoon evening noon midnight am pm a p m".split()
)


def _plan_words(plan: str) -> set[str]:
    return set(_WORD.findall(plan.casefold()))


def is_phrasing(word: str, plan_words: set[str]) -> bool:
    """True for a whitespace-separated query word that carries nothing the plan needs."""
    parts = _WORD.findall(word.casefold())
    return bool(parts) and not any(p.isdigit() or p in plan_words or p in _CALENDAR for p in parts)


def phrasing_words(queries: Iterable[str], plans: Iterable[str]) -> list[str]:
    """Every phrasing word of the training set, repeats kept, so a swap draws common words more often."""
    words = []
    for query, plan in zip(queries, plans):
        plan_words = _plan_words(plan)
        words.extend(w for w in query.split() if is_phrasing(w, plan_words))
    return words


def noisy_query(query: str, plan: str, pool: Sequence[str], rate: float, rng: random.Random) -> str:
    """``query`` with each phrasing word dropped or swapped for a word of ``pool``, each with
    probability rate / 2; never returns an empty query."""
    plan_words = _plan_words(plan)
    kept = []
    for word in query.split():
        draw = rng.random() if is_phrasing(word, plan_words) else 1.0
        if draw < rate / 2:
            continue
        kept.append(rng.choice(pool) if draw < rate and pool else word)
    return " ".join(kept) or query
