"""Work split over forked worker processes, results in input order.

Scoring is pure Python, so threads would not run it in parallel; processes do. Workers are forked,
so they inherit the plans already read instead of receiving them: only chunk bounds go to them and
only their results come back (through multiprocessing's pipes, between processes of this run).
Workers are forked only on Linux (macOS and Windows start them by spawning, which would have to
send everything): elsewhere, and for small inputs where starting workers costs more than it saves,
the work runs in this process.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from typing import Any

# Below this many items a worker pool does not pay for its start-up and teardown (about 20 ms
# on a 2-core machine, against about 0.2 ms per scored pair).
MIN_PARALLEL_ITEMS = 2_000
CHUNK_ITEMS = 500  # small enough to keep the workers evenly busy (40 chunks for 20,000 pairs)
MAX_PROCESSES = 8

Work = Callable[[int, int], list[Any]]
_work: Work | None = None  # set in each worker by `_install`
_first_failed: Any = None  # shared by the workers: the index of the first chunk known to fail


def available_processes() -> int:
    """CPUs this process may run on, at most MAX_PROCESSES."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    return max(1, min(count, MAX_PROCESSES))


def chunked_map(work: Work, count: int, processes: int) -> list[Any]:
    """`work(0, count)`, computed as `work(start, stop)` over chunks in up to `processes` forked
    workers when that can pay off, and joined in order. `work` must not depend on side effects of
    earlier chunks: each worker has its own copy of the process. An exception `work` raises
    reaches the caller (from a worker, it must pickle): that of the first failing chunk in order,
    as in one process. Raises WorkerDied when a worker process ends abruptly."""
    processes = min(processes, -(-count // CHUNK_ITEMS))
    if processes < 2 or count < MIN_PARALLEL_ITEMS or not sys.platform.startswith("linux"):
        return work(0, count)
    chunks = [(index, start, min(start + CHUNK_ITEMS, count)) for index, start in enumerate(range(0, count, CHUNK_ITEMS))]
    # Imported here: small inputs, the most common, do not pay for importing them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork")
    first_failed = context.Value("q", len(chunks))
    # What exists now is only read by the workers: frozen, their collections leave its pages shared.
    gc.freeze()
    try:
        # Forked, the workers get `work` (and the data it closes over) from memory, not by pickling.
        # An executor, not a multiprocessing.Pool: a Pool hangs for good when a worker dies (killed
        # for memory, say) or is terminated while it sends a result (bpo-22393, CPython issue 96995).
        # An executor raises BrokenProcessPool for the first; failures returned as values avoid the second.
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_install, initargs=(work, first_failed)) as pool:
            outcomes = list(pool.map(_run, chunks))
    except BrokenProcessPool:
        raise WorkerDied("a worker process ended abruptly (killed for lack of memory?); "
                         "score fewer pairs at a time") from None
    finally:
        gc.unfreeze()
    for outcome in outcomes:
        if isinstance(outcome, _Failed):
            raise outcome.error
    return [item for part in outcomes for item in part]


class WorkerDied(RuntimeError):
    """A worker process ended before its work was done."""


class _Failed:
    """What a worker returns, instead of raising, for a chunk whose work raised."""

    def __init__(self, error: Exception) -> None:
        self.error = error


_SKIPPED: list[Any] = []  # a chunk after a failed one: its result would be thrown away


def _install(work: Work, first_failed: Any) -> None:
    global _work, _first_failed
    _work, _first_failed = work, first_failed
    # Work such as scoring makes many small containers and few cycles, and its caches grow large,
    # so automatic collections (the older generations' above all) cost more than they free: the
    # young generation is collected once per chunk instead (see `_run`). On 100,000 pairs that
    # scored 3 % faster than collecting 20 times less often than the default, at the same peak memory.
    gc.disable()


def _run(chunk: tuple[int, int, int]) -> list[Any] | _Failed:
    assert _work is not None and _first_failed is not None, "called outside a worker"
    index, start, stop = chunk
    if index > _first_failed.value:
        return _SKIPPED
    try:
        result = _work(start, stop)
    except Exception as error:
        with _first_failed.get_lock():
            _first_failed.value = min(_first_failed.value, index)
        return _Failed(error)
    gc.collect(0)  # the chunk's cycles; what outlives it is mostly cache, left alone
    return result
