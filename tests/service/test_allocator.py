"""glibc allocator tuning (service/allocator.py)."""

from __future__ import annotations

import platform

import pytest

from service.allocator import limit_arenas, release_freed_memory

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")


@glibc
def test_arena_limit_is_accepted_by_glibc() -> None:
    # mallopt answers 0 for a parameter it does not know: a wrong M_ARENA_MAX would show here.
    assert limit_arenas()


def test_release_runs_anywhere() -> None:
    release_freed_memory()
