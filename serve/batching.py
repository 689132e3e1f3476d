"""Dynamic batching: requests that arrive together share one `generate` call.

One worker task takes the oldest queued request, waits up to `window_s` for more (never past
`max_batch`) and runs the batch in a single model thread, off the event loop. One model thread
means generation never competes with itself for the CPU, and a streamed request (which
transformers decodes one prompt at a time) simply takes a turn alone. The queue is bounded: a
request that finds it full is refused at once (`QueueFull`, a 503), and one that is not answered
within `timeout_s` gets `RequestTimeout` (a 504); a request dropped while still queued never
reaches the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the request queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class RequestTimeout(Exception):
    pass


class Closed(Exception):
    pass


@dataclass(eq=False)  # identity comparison: a withdrawn entry is removed as itself
class _Entry:
    payload: Any
    alone: bool
    future: asyncio.Future
    started: asyncio.Event = field(default_factory=asyncio.Event)


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result]],
        *,
        max_batch: int = 8,
        queue_size: int = 64,
        window_s: float = 0.01,
        timeout_s: float = 60.0,
    ):
        if max_batch < 1 or queue_size < 1 or window_s < 0 or timeout_s <= 0:
            raise ValueError("max_batch and queue_size must be >= 1, window_s >= 0 and timeout_s > 0")
        self.run_batch = run_batch
        self.max_batch, self.queue_size, self.window_s, self.timeout_s = max_batch, queue_size, window_s, timeout_s
        # A deque, not an asyncio.Queue: a request that times out or whose client leaves is taken
        # out at once, so it never holds a place in the queue that a live request could have.
        self._waiting: deque[_Entry] = deque()
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._batch_seconds = 1.0  # running mean of a batch's duration, for Retry-After

    def start(self) -> None:
        """Start the worker; call from the event loop that will submit requests."""
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner")
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def close(self) -> None:
        if self._worker is None:
            return
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        while self._waiting:
            entry = self._waiting.popleft()
            if not entry.future.done():
                entry.future.set_exception(Closed("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._worker = None

    @property
    def queued(self) -> int:
        return len(self._waiting)

    async def submit(self, item: Item) -> Result:
        """The item's result, computed in a batch; raises QueueFull, RequestTimeout or Closed."""
        entry = self._enqueue(item, alone=False)
        try:
            return await asyncio.wait_for(entry.future, self.timeout_s)
        except TimeoutError:
            raise RequestTimeout() from None
        finally:
            self._withdraw(entry)

    async def submit_alone(self, run: Callable[[], Result]) -> asyncio.Future:
        """Queue `run` to execute by itself in the model thread; returns its result's future once
        it has started. Raises QueueFull, or RequestTimeout when it does not start in time."""
        entry = self._enqueue(run, alone=True)
        try:
            await asyncio.wait_for(entry.started.wait(), self.timeout_s)
        except TimeoutError:
            entry.future.cancel()
            raise RequestTimeout() from None
        finally:
            self._withdraw(entry)
        return entry.future

    def _enqueue(self, payload: Any, alone: bool) -> _Entry:
        if self._worker is None:
            raise Closed("the batcher is not running")
        if len(self._waiting) >= self.queue_size:
            raise QueueFull(self._retry_after())
        entry = _Entry(payload, alone, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        self._arrived.set()
        return entry

    def _withdraw(self, entry: _Entry) -> None:
        with contextlib.suppress(ValueError):  # already taken by the worker
            self._waiting.remove(entry)

    def _retry_after(self) -> int:
        batches_ahead = self.queued / self.max_batch + 1
        return max(1, math.ceil(self._batch_seconds * batches_ahead))

    async def _next(self, timeout: float | None = None) -> _Entry | None:
        """The oldest waiting entry, waiting for one up to `timeout` seconds (None: forever)."""
        while not self._waiting:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return None
        return self._waiting.popleft()

    async def _work(self) -> None:
        while True:
            entry = await self._next()
            if entry.alone:
                await self._run_alone(entry)
            else:
                await self._run_batch(await self._fill([entry]))

    async def _fill(self, batch: list[_Entry]) -> list[_Entry]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while len(batch) < self.max_batch:
            entry = await self._next(max(0.0, deadline - loop.time()))
            if entry is None:
                break
            if entry.alone:  # a streamed request runs by itself, next
                self._waiting.appendleft(entry)
                break
            batch.append(entry)
        return batch

    async def _run_batch(self, batch: list[_Entry]) -> None:
        for entry in batch:
            entry.started.set()
        loop, begin = asyncio.get_running_loop(), time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.run_batch, [e.payload for e in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} requests gave {len(results)} results")
        except Exception as error:  # the batch failed as a whole: every request in it gets the error
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(error)
            return
        finally:
            self._batch_seconds = 0.8 * self._batch_seconds + 0.2 * (time.perf_counter() - begin)
        for entry, result in zip(batch, results):
            if entry.future.done():
                continue
            # run_batch may answer a request with the exception that refuses it, sparing the others.
            if isinstance(result, Exception):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)

    async def _run_alone(self, entry: _Entry) -> None:
        entry.started.set()
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._executor, entry.payload)
        except Exception as error:
            if not entry.future.done():
                entry.future.set_exception(error)
            return
        if not entry.future.done():
            entry.future.set_result(result)
