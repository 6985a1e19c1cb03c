"""glibc's allocator, tuned for a server that loads and releases models while it runs.

Two calls, both no-ops where the C library is not glibc:
- `limit_arenas` at start, before any thread exists: glibc gives threads heaps of their own
  ("arenas", up to 8 per core). Sessions built on one executor thread and run on others left
  freed pages scattered over them, and the resident set wandered from one model load/unload
  cycle to the next by up to 13 % (159-180 MiB); capped at two arenas, 159-168 MiB, with no
  request rate lost (RELIABILITY.md §10, `python -m bench.allocator`).
- `release_freed_memory` after each load and release: hands the free pages back (malloc_trim).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc

M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENAS = 2


@functools.cache  # looked up once per process
def _libc() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL("libc.so.6")
        if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
            return libc
    return None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the number of malloc arenas (threads share them beyond it). True where it applied."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def release_freed_memory() -> None:
    """Hand the heap that building or releasing sessions left free back to the OS. Without it,
    load/unload cycles left the resident set 5-15 % above the first cycle's, though no object
    leaked (tests/reliability/test_swap_memory.py)."""
    gc.collect()
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
