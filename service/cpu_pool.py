"""A bounded thread pool for request work too heavy for the event loop.

Decoding large images (Pillow releases the GIL while it decodes and resizes) and parsing large
JSON bodies used to run on the event loop: one request of 16 tall PNGs held /healthz for 8.6 s.
Small inputs stay inline (a thread hop costs more than it saves on a 28x28 digit); work above a
size threshold goes to this pool, sized to the usable cores. Jobs waiting beyond `max_queue` are
refused with 503, like a full batcher queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from service.errors import Overloaded

T = TypeVar("T")

INLINE_PIXELS = 1 << 20  # decoded pixels per request handled on the event loop (~5 ms of work)
INLINE_BYTES = 1 << 18  # body bytes parsed on the event loop (~2 ms of JSON)
INLINE_VALUES = 1 << 16  # tensor values written as JSON on the event loop (~5 ms)


class CpuPool:
    def __init__(self, threads: int, max_queue: int) -> None:
        self.threads, self.max_queue = threads, max_queue
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cpu")
        self._jobs = 0  # running or waiting

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._jobs >= self.threads + self.max_queue:
            raise Overloaded(f"too many large inputs being decoded ({self._jobs}); retry")
        self._jobs += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._jobs -= 1

    async def run_if(self, heavy: bool, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in the pool when `heavy`, else right here on the event loop."""
        return await self.run(fn, *args) if heavy else fn(*args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
