"""Dynamic batching: rows from concurrent requests are run together through one network.

One Batcher per (model, network). The loop waits for the first item, then keeps collecting until
`max_batch_size` rows are queued or `max_wait` has passed since that first item arrived (mosec's
policy), except that it stops waiting as soon as every request the server is handling is
already queued (at concurrency 1 there is nobody to wait for). A request larger than the maximum
is split into chunks and reassembled in order. Results go back to each request by slicing the
batch output; an item whose caller has gone (its future was cancelled by a disconnect or a
deadline) is skipped, and no result is ever set on a cancelled future. The queue is bounded in
rows: beyond it `submit` raises Overloaded (503 + Retry-After).

Up to `max_concurrent` batches run at once (one per inference thread), so the next batch is
collected and started while the previous one is still running; with `overlap_ok`, a batch starts
beside a running one only if its rows make a call long enough to be worth it (short calls wait,
and the rows that queue meanwhile make the next batch larger). With `coalesce=False` every
request runs on its own (the "batching off" baseline); large requests are still split.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from service.errors import Overloaded
from service.request_info import CURRENT, RequestInfo
from service.tracing import batch_spans

log = logging.getLogger(__name__)

Feeds = dict[str, np.ndarray]  # input name -> [n, ...], all with the same n
RunFn = Callable[[Feeds], list[np.ndarray]]


@dataclass
class BatchObserver:
    """Hooks for metrics; all no-ops by default."""

    batch: Callable[[int, float], None] = lambda rows, seconds: None  # rows, inference time
    queue_wait: Callable[[float], None] = lambda seconds: None
    depth: Callable[[int], None] = lambda rows: None


@dataclass
class _Item:
    feeds: Feeds
    rows: int
    future: asyncio.Future[list[np.ndarray]]
    request: RequestInfo | None  # the request the rows came from: told which batch they rode in
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        name: str,
        run: RunFn,
        executor: Executor,
        max_batch_size: int = 64,
        max_wait_s: float = 0.002,
        max_queue_rows: int = 2048,
        observer: BatchObserver | None = None,
        requests_in_flight: Callable[[], int] | None = None,
        max_concurrent: int = 1,
        coalesce: bool = True,
        overlap_ok: Callable[[int], bool] | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.name = name
        self._run = run
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue_rows = max_queue_rows
        self._obs = observer or BatchObserver()
        # How many requests the server is handling; when all of them are already queued here,
        # nobody else can join this batch and waiting max_wait would only add latency.
        self._in_flight = requests_in_flight
        self._items: deque[_Item] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._coalesce = coalesce
        self._slots = asyncio.Semaphore(max_concurrent)  # batches allowed to run at once
        self._overlap_ok = overlap_ok
        self._running: set[asyncio.Task[None]] = set()
        self._batches = 0  # batches run so far: the id's counter
        self._pid = os.getpid()  # batchers start in the worker process, after any fork

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    @property
    def idle(self) -> bool:
        """Nothing queued and no batch running."""
        return not self._items and not self._running

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:  # let batches already handed to onnxruntime finish and answer
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._items:  # nobody will run these now
            item = self._items.popleft()
            if not item.future.done():
                item.future.set_exception(Overloaded("server is shutting down"))

    # ---- requests -------------------------------------------------------------------------
    async def submit(self, feeds: Feeds) -> list[np.ndarray]:
        """Run `feeds` (any number of rows) and return this request's outputs, in order."""
        if self._task is None:
            raise RuntimeError(f"batcher {self.name} is not running")
        rows = _rows(feeds)
        self._check_capacity(rows)
        # Too large for one batch: split into chunks, enqueued together (no await in between, so
        # the capacity check holds for all of them); they may run beside other requests' rows.
        step = self.max_batch_size
        futures = [
            self._enqueue({k: v[i : i + step] for k, v in feeds.items()})
            for i in range(0, rows, step)
        ]
        if len(futures) == 1:
            return await futures[0]  # cancelled if the caller goes away; the loop then skips it
        parts = await asyncio.gather(*futures)
        return [np.concatenate(outs) for outs in zip(*parts, strict=True)]

    def _check_capacity(self, rows: int) -> None:
        if self._queued_rows + rows > self.max_queue_rows:
            raise Overloaded(
                f"{self.name}: queue full ({self._queued_rows} rows waiting, limit "
                f"{self.max_queue_rows}); retry shortly"
            )

    def _enqueue(self, feeds: Feeds) -> asyncio.Future[list[np.ndarray]]:
        rows = _rows(feeds)
        item = _Item(feeds, rows, asyncio.get_running_loop().create_future(), CURRENT.get())
        self._items.append(item)
        self._queued_rows += rows
        self._obs.depth(self._queued_rows)
        self._wakeup.set()
        return item.future

    # ---- the loop -------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()  # a free inference thread before collecting a batch
            try:
                await self._wait_to_overlap()
                batch = await self._collect()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception:  # never let the loop die
                log.exception("batcher %s: unexpected error", self.name)
                batch = []
            if not batch:
                self._slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._batch_done)

    async def _wait_to_overlap(self) -> None:
        """While a batch runs, hold the next one until the queued rows make a long call."""
        while (
            self._running
            and self._overlap_ok is not None
            and not self._overlap_ok(min(self._available_rows(), self.max_batch_size))
        ):
            self._wakeup.clear()
            wake = asyncio.ensure_future(self._wakeup.wait())
            await asyncio.wait({wake, *self._running}, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            # not expected: _run_batch hands every error to its items
            log.error("batcher %s: unexpected error", self.name, exc_info=task.exception())

    async def _collect(self) -> list[_Item]:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        deadline = self._items[0].enqueued + self.max_wait_s
        while self._coalesce and self._available_rows() < self.max_batch_size:
            if self._in_flight is not None and self._in_flight() <= len(self._items):
                break
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
        batch: list[_Item] = []
        rows = 0
        while self._items and rows + self._items[0].rows <= self.max_batch_size:
            item = self._items.popleft()
            self._queued_rows -= item.rows
            if item.future.done():  # cancelled while waiting: drop it
                continue
            batch.append(item)
            rows += item.rows
            if not self._coalesce:
                break
        self._obs.depth(self._queued_rows)
        return batch

    def _available_rows(self) -> int:
        return sum(i.rows for i in self._items if not i.future.done())

    async def _run_batch(self, batch: list[_Item]) -> None:
        now = time.perf_counter()
        self._batches += 1
        batch_id = f"{self._pid}:{self.name}:{self._batches}"  # unique across workers
        rows = sum(item.rows for item in batch)
        traced: list[tuple[RequestInfo, float]] = []
        for item in batch:
            self._obs.queue_wait(now - item.enqueued)
            if item.request is not None:
                item.request.note_batch(batch_id, rows, now - item.enqueued)
                if item.request.span is not None:
                    traced.append((item.request, item.enqueued))
        span = batch_spans(self.name, batch_id, rows, traced, now) if traced else None
        t0 = time.perf_counter()
        try:
            feeds = (
                batch[0].feeds
                if len(batch) == 1
                else {k: np.concatenate([i.feeds[k] for i in batch]) for k in batch[0].feeds}
            )
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(self._executor, self._run, feeds)
        except Exception as exc:
            if span is not None:
                span.record_exception(exc)
                span.end()
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        if span is not None:
            span.end()
        self._obs.batch(rows, time.perf_counter() - t0)
        start = 0
        for item in batch:
            end = start + item.rows
            if not item.future.done():
                item.future.set_result([o[start:end] for o in outputs])
            start = end


def _rows(feeds: Feeds) -> int:
    sizes = {int(v.shape[0]) for v in feeds.values()}
    if len(sizes) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()
