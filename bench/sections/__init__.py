"""The sections of BENCHMARKS.md, in page order: each a module with its measure and render."""

from __future__ import annotations

from bench.sections import (
    defaults,
    encode,
    latency,
    memory,
    ort_vs_torch,
    peers,
    peers_grpc,
    raw_ort,
    sample,
    samplers,
    swaps,
    tracing,
    training,
)
from bench.sections.common import Results, Section

SECTIONS: tuple[Section, ...] = tuple(
    m.SECTION
    for m in (
        raw_ort,
        sample,
        encode,
        defaults,
        tracing,
        swaps,
        latency,
        ort_vs_torch,
        memory,
        training,
        samplers,
        peers,
        peers_grpc,
    )
)


def targets(res: Results) -> dict[str, float]:
    """The figures the targets table judges, from every section the results have."""
    return {k: v for s in SECTIONS if s.key in res for k, v in s.targets(res).items()}
