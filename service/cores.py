"""Core tokens: the CPU budget that every worker process's model calls share.

With N worker processes, Linux hashes each connection to one worker; a worker that happens to
hold more busy connections than the others queues its batches while other cores idle, and every
call runs with the thread count its session was made with, even when it is the only call. With
ALI_CPU_TOKENS=C, the supervisor makes one semaphore of C tokens for all workers. A model call
takes one token (waiting if none is free), then any others free at that moment, and runs on a
session with that many onnxruntime threads (sizes 1, 2, 4, ... up to C). So a lone request uses
every core, a busy worker can run several calls at once while another idles, and no more than C
threads compute at any time, whatever the load.
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


class CoreTokens:
    def __init__(self, total: int, semaphore: Any | None = None) -> None:
        if total < 1:
            raise ValueError("need at least one core token")
        self.total = total
        self.sizes = session_sizes(total)
        # A multiprocessing semaphore (shared by worker processes) or, alone, a threading one.
        self._sem: _Semaphore = semaphore or threading.BoundedSemaphore(total)

    @contextmanager
    def take(self) -> Iterator[int]:
        """Hold 1..total tokens for one call; yields how many (always one of `sizes`)."""
        self._sem.acquire()
        held = 1
        while held < self.total and self._sem.acquire(False):
            held += 1
        use = max(s for s in self.sizes if s <= held)
        for _ in range(held - use):  # more than the largest session size that fits: give back
            self._sem.release()
        try:
            yield use
        finally:
            for _ in range(use):
                self._sem.release()
