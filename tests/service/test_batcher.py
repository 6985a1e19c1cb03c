from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.batcher import Batcher, BatchObserver
from service.errors import Overloaded


class Recorder:
    """A fake network: out = x * 2 + row-index-free tag; records every batch size."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.delay = delay
        self.gate: threading.Event | None = None

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.gate is not None:
            self.gate.wait(5)
        if self.delay:
            time.sleep(self.delay)
        self.sizes.append(len(feeds["x"]))
        return [feeds["x"] * 2.0, feeds["x"].sum(axis=1)]


def _batcher(run: Recorder, **kw: object) -> Batcher:
    params: dict = {"max_batch_size": 8, "max_wait_s": 0.01, "max_queue_rows": 1000}
    params.update(kw)
    return Batcher("test", run, ThreadPoolExecutor(1), **params)


def _rows(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32)[:, None].repeat(3, axis=1)


async def test_single_request_order_and_outputs() -> None:
    run = Recorder()
    b = _batcher(run)
    b.start()
    out = await b.submit({"x": _rows(0, 5)})
    np.testing.assert_array_equal(out[0], _rows(0, 5) * 2)
    np.testing.assert_array_equal(out[1], _rows(0, 5).sum(1))
    await b.stop()


async def test_large_request_is_split_and_reassembled_in_order() -> None:
    run = Recorder()
    b = _batcher(run, max_batch_size=8)
    b.start()
    out = await b.submit({"x": _rows(0, 30)})
    np.testing.assert_array_equal(out[0], _rows(0, 30) * 2)
    assert max(run.sizes) <= 8 and sum(run.sizes) == 30
    await b.stop()


async def test_no_crossing_under_200_concurrent_mixed_requests() -> None:
    run = Recorder(delay=0.001)
    b = _batcher(run, max_batch_size=16, max_wait_s=0.005, max_queue_rows=100_000)
    b.start()
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 40, 200)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) * 1000  # unique values per request
    outs = await asyncio.gather(
        *(b.submit({"x": _rows(int(s), int(n))}) for s, n in zip(starts, sizes, strict=True))
    )
    for s, n, out in zip(starts, sizes, outs, strict=True):
        np.testing.assert_array_equal(out[0], _rows(int(s), int(n)) * 2)
    assert max(run.sizes) <= 16
    assert max(run.sizes) > 1  # requests were actually batched together
    await b.stop()


async def test_cancelled_request_is_dropped_without_disturbing_the_loop() -> None:
    run = Recorder()
    run.gate = threading.Event()  # hold the first batch in the executor
    b = _batcher(run, max_batch_size=4, max_wait_s=0.0)
    b.start()
    first = asyncio.create_task(b.submit({"x": _rows(0, 4)}))
    await asyncio.sleep(0.05)  # first batch is running (blocked on the gate)
    doomed = asyncio.create_task(b.submit({"x": _rows(100, 2)}))
    survivor = asyncio.create_task(b.submit({"x": _rows(200, 2)}))
    await asyncio.sleep(0.01)
    doomed.cancel()
    run.gate.set()
    np.testing.assert_array_equal((await first)[0], _rows(0, 4) * 2)
    np.testing.assert_array_equal((await survivor)[0], _rows(200, 2) * 2)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert run.sizes == [4, 2]  # the cancelled rows never reached the model
    np.testing.assert_array_equal((await b.submit({"x": _rows(5, 1)}))[0], _rows(5, 1) * 2)
    await b.stop()


async def test_queue_full_raises_overloaded_with_retry_after() -> None:
    run = Recorder()
    run.gate = threading.Event()
    b = _batcher(run, max_batch_size=4, max_wait_s=0.0, max_queue_rows=6)
    b.start()
    running = asyncio.create_task(b.submit({"x": _rows(0, 4)}))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(b.submit({"x": _rows(10, 4)}))
    await asyncio.sleep(0.01)
    with pytest.raises(Overloaded) as e:
        await b.submit({"x": _rows(20, 4)})  # 4 queued + 4 > 6
    assert e.value.status == 503 and "Retry-After" in e.value.headers
    run.gate.set()
    await asyncio.gather(running, waiting)
    await b.stop()


async def test_deadline_cancels_and_later_requests_work() -> None:
    run = Recorder(delay=0.2)
    b = _batcher(run, max_batch_size=2, max_wait_s=0.0)
    b.start()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(b.submit({"x": _rows(0, 2)}), 0.05)
    out = await b.submit({"x": _rows(9, 1)})
    np.testing.assert_array_equal(out[0], _rows(9, 1) * 2)
    await b.stop()


async def test_model_error_reaches_only_that_batch() -> None:
    calls = {"n": 0}

    def flaky(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return [feeds["x"]]

    b = Batcher("flaky", flaky, ThreadPoolExecutor(1), max_batch_size=4, max_wait_s=0.0)
    b.start()
    with pytest.raises(RuntimeError, match="boom"):
        await b.submit({"x": _rows(0, 1)})
    assert (await b.submit({"x": _rows(1, 1)}))[0][0, 0] == 1
    await b.stop()


async def test_observer_sees_batches_and_depth() -> None:
    seen: dict[str, list] = {"batch": [], "depth": [], "wait": []}
    obs = BatchObserver(
        batch=lambda r, s: seen["batch"].append(r),
        queue_wait=seen["wait"].append,
        depth=seen["depth"].append,
    )
    b = Batcher(
        "obs", Recorder(), ThreadPoolExecutor(1), max_batch_size=8, max_wait_s=0.02, observer=obs
    )
    b.start()
    await asyncio.gather(*(b.submit({"x": _rows(i, 1)}) for i in range(8)))
    assert sum(seen["batch"]) == 8 and max(seen["batch"]) > 1
    assert len(seen["wait"]) == 8 and seen["depth"][-1] == 0
    await b.stop()


async def test_does_not_wait_when_every_request_in_flight_is_queued() -> None:
    run = Recorder()
    handling = [1]  # only this request is being handled
    b = _batcher(run, max_batch_size=8, max_wait_s=0.5, requests_in_flight=lambda: handling[0])
    b.start()
    t0 = time.perf_counter()
    await b.submit({"x": _rows(0, 1)})
    assert time.perf_counter() - t0 < 0.25  # did not sit out the 0.5 s window
    handling[0] = 2  # another request is on its way: wait for it
    t0 = time.perf_counter()
    await b.submit({"x": _rows(0, 1)})
    assert time.perf_counter() - t0 >= 0.45
    await b.stop()


async def test_without_coalescing_every_request_runs_alone() -> None:
    """The batching-off baseline: queued requests are not merged (large ones are still split)."""
    run = Recorder()
    run.gate = threading.Event()  # hold the first call so the others queue up behind it
    b = _batcher(run, max_batch_size=8, max_wait_s=0.05, coalesce=False)
    b.start()
    tasks = [asyncio.create_task(b.submit({"x": _rows(i * 10, 2)})) for i in range(5)]
    big = asyncio.create_task(b.submit({"x": _rows(100, 20)}))
    await asyncio.sleep(0.05)
    run.gate.set()
    for i, t in enumerate(tasks):
        np.testing.assert_array_equal((await t)[0], _rows(i * 10, 2) * 2)
    np.testing.assert_array_equal((await big)[0], _rows(100, 20) * 2)
    assert run.sizes == [2, 2, 2, 2, 2, 8, 8, 4]
    await b.stop()


async def test_batches_overlap_up_to_max_concurrent() -> None:
    """With two inference threads a second batch starts while the first is still running."""
    both_running = threading.Barrier(2, timeout=5)

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        both_running.wait()  # raises BrokenBarrierError unless two calls are in flight at once
        return [feeds["x"]]

    b = Batcher(
        "pair", run, ThreadPoolExecutor(2), max_batch_size=2, max_wait_s=0.0, max_concurrent=2
    )
    b.start()
    outs = await asyncio.gather(*(b.submit({"x": _rows(i, 2)}) for i in (0, 10)))
    np.testing.assert_array_equal(outs[1][0], _rows(10, 2))
    await b.stop()


async def test_short_batches_wait_for_the_running_one_when_overlap_is_not_worth_it() -> None:
    """overlap_ok says no for short calls: rows queue while the first batch runs, then go as one."""
    gate, sizes, in_flight, peak = threading.Event(), [], [0], [0]
    lock = threading.Lock()

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        gate.wait(5)
        sizes.append(len(feeds["x"]))
        with lock:
            in_flight[0] -= 1
        return [feeds["x"]]

    b = Batcher(
        "short",
        run,
        ThreadPoolExecutor(2),
        max_batch_size=8,
        max_wait_s=0.0,
        max_concurrent=2,
        overlap_ok=lambda rows: rows >= 8,
    )
    b.start()
    first = asyncio.create_task(b.submit({"x": _rows(0, 1)}))
    await asyncio.sleep(0.05)  # the first batch is running (held at the gate)
    rest = [asyncio.create_task(b.submit({"x": _rows(i, 1)})) for i in range(1, 4)]
    await asyncio.sleep(0.05)  # three rows queued: too short to start beside the first
    assert peak[0] == 1
    gate.set()
    await asyncio.gather(first, *rest)
    assert sizes == [1, 3] and peak[0] == 1
    await b.stop()


async def test_stop_waits_for_running_batches() -> None:
    run = Recorder(delay=0.1)
    b = _batcher(run, max_batch_size=4, max_wait_s=0.0)
    b.start()
    pending = asyncio.create_task(b.submit({"x": _rows(0, 4)}))
    await asyncio.sleep(0.02)  # the batch is in the executor
    await b.stop()
    np.testing.assert_array_equal((await pending)[0], _rows(0, 4) * 2)
