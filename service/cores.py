"""Core tokens: the CPU budget that every worker process's model calls share.

With N worker processes, Linux hashes each connection to one worker; a worker that happens to
hold more busy connections than the others queues its batches while other cores idle, and every
call runs with the thread count its session was made with, even when it is the only call. With
ALI_CPU_TOKENS=C, the supervisor makes one semaphore of C tokens for all workers. A model call
takes one token (waiting if none is free), then, if it is long enough to gain from more
threads and no other call is running or waiting in any worker, the other free tokens, and runs
on a session with that many onnxruntime threads (sizes 1, 2, 4, ... up to C). So a lone large
request uses every core, calls under load run one thread each, a worker that happens to hold
most of the busy connections runs up to C calls at once on cores the others leave idle, and no
more than C threads compute at any time. The multi-thread sessions do not spin between calls
(a spinning helper would burn a core another call holds the token for).

Short calls (a few one-image rows) stay on one thread: waking a second thread costs more than it
saves there, and holding two tokens for them starved the other worker (measured: encoding one
image per request at concurrency 64 fell from 2,818 to 1,730 requests/s; docs/peers.md). Long
calls that found free tokens under load fared no better: decoding 64 latents per request at
concurrency 16 fell from 67 to 40 requests/s, hence "no other call" (a shared count of calls).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class _Semaphore(Protocol):
    def acquire(self, block: bool = ..., timeout: float | None = ...) -> bool: ...
    def release(self) -> None: ...


def session_sizes(total: int) -> list[int]:
    """Thread counts a network keeps a session for: powers of two below `total`, and `total`."""
    sizes, n = [], 1
    while n < total:
        sizes.append(n)
        n *= 2
    return [*sizes, total]


class _Count(Protocol):
    value: int

    def get_lock(self) -> Any: ...


class _LocalCount:
    def __init__(self) -> None:
        self.value, self._lock = 0, threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock


def shared_state(ctx: Any, total: int) -> tuple[Any, Any]:
    """What worker processes share: the token semaphore and the count of calls in play."""
    return ctx.BoundedSemaphore(total), ctx.Value("i", 0)


class CoreTokens:
    def __init__(self, total: int, shared: tuple[Any, Any] | None = None) -> None:
        if total < 1:
            raise ValueError("need at least one core token")
        self.total = total
        self.sizes = session_sizes(total)
        # Shared by worker processes (shared_state), or, in one process, threading's own.
        sem, count = shared or (threading.BoundedSemaphore(total), _LocalCount())
        self._sem: _Semaphore = sem
        self._calls: _Count = count  # calls running or waiting for a token, in all workers

    @contextmanager
    def take(self, most: int | None = None) -> Iterator[int]:
        """Hold 1..`most` (default: all) tokens for one call; yields how many (one of `sizes`)."""
        most = self.total if most is None else min(most, self.total)
        with self._calls.get_lock():
            self._calls.value += 1
        try:
            self._sem.acquire()
            held = 1
            while held < most and self._calls.value == 1 and self._sem.acquire(False):
                held += 1
            use = max(s for s in self.sizes if s <= held)
            for _ in range(held - use):  # more than the largest session size that fits
                self._sem.release()
            try:
                yield use
            finally:
                for _ in range(use):
                    self._sem.release()
        finally:
            with self._calls.get_lock():
                self._calls.value -= 1
