"""Section 9: the service against Triton, LitServe, Ray Serve, mosec and BentoML (measured by
bench/peers/, its own run and date, into bench/peers.json; rendered by bench/peers/report.py)."""

from __future__ import annotations

from bench.peers import report
from bench.sections.common import Results, Section


def render(res: Results) -> list[str]:
    return report.section(res["peers"])


SECTION = Section("peers", render)
