"""Core tokens: the CPU budget that every worker process's model calls share.

Linux hashes each connection to one worker process, so one worker may hold most of the busy
connections while another core idles; and a session's thread count is fixed when it is made. With
C tokens (ALI_CPU_TOKENS, by default the usable cores) the supervisor makes one semaphore for all
workers. A model call takes one token (waiting if none is free); if it is long enough to gain from
more threads and no other call is running or waiting in any worker, it also takes the free ones,
and runs on a session with that many onnxruntime threads (sizes 1, 2, 4, ... up to C). So a lone
large request uses every core, calls under load run one thread each, a worker holding most of the
connections borrows the cores the others leave idle, and no more than C threads compute at once.
Multi-thread sessions do not spin between calls (a spinning helper would burn a core that another
call holds the token for). Short calls stay on one thread: waking a second costs more than it
saves. What was measured on the way to these rules: docs/peers.md.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


def usable_cores(cgroup: str = "/sys/fs/cgroup") -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (a
    container's `--cpus`), rounded up. v2's cpu.max is "QUOTA PERIOD" or "max PERIOD"; v1 has
    cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota(cgroup)
    return max(1, min(cores or 1, math.ceil(quota) if quota else cores or 1))


def _cgroup_quota(root: str) -> float | None:
    """The CPU quota in cores, or None when there is none (or no cgroup files to read)."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota_us = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period_us = int(f.read())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


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
