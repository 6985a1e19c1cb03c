"""Section 3b: the service out of the box against the hand-tuned configuration of the code
before issues 28-29 (bench/baseline.py), paired: both servers run side by side, and the load
alternates between them (A B A B ...), so drift on a noisy host falls on both alike."""

from __future__ import annotations

import statistics

from bench.sections.common import (
    DEFAULT,
    SAMPLE_N,
    TUNED_BEFORE,
    Bench,
    Results,
    Section,
    say,
    table,
)

REPEATS = 3
ROWS = (("sample", 4), ("encode", 64))  # (workload, concurrency): the rows issue 28 names


def measure(bench: Bench, res: Results) -> Results:
    if bench.smoke:
        return {}
    runs: dict[str, dict[str, list[float]]] = {DEFAULT: {}, TUNED_BEFORE: {}}
    with bench.server(DEFAULT) as (url_a, _), bench.server(TUNED_BEFORE) as (url_b, _):
        urls = {DEFAULT: url_a, TUNED_BEFORE: url_b}
        for rep in range(REPEATS):
            for name in (DEFAULT, TUNED_BEFORE) if rep % 2 == 0 else (TUNED_BEFORE, DEFAULT):
                for workload, c in ROWS:
                    say(f"[{name}] {workload} c={c} (repeat {rep + 1}/{REPEATS})")
                    run = bench.sample if workload == "sample" else bench.encode
                    run(urls[name], c)  # warm-up, same length as the timed run
                    rps = run(urls[name], c)["requests_per_s"]
                    runs[name].setdefault(f"{workload} c={c}", []).append(rps)
    return {"defaults": {"repeats": REPEATS, "requests_per_s": runs}}


def render(res: Results) -> list[str]:
    d = res["defaults"]
    rows = []
    for row, default in d["requests_per_s"][DEFAULT].items():
        tuned = d["requests_per_s"][TUNED_BEFORE][row]
        ratios = [a / b for a, b in zip(default, tuned, strict=True)]
        rows.append(
            [
                f"`{row.replace('sample', f'GET /sample?n={SAMPLE_N}').replace('encode', 'POST /encode')}`",
                f"{statistics.median(default):.1f}",
                f"{statistics.median(tuned):.1f}",
                f"**{statistics.median(ratios):.2f}**",
                f"{min(ratios):.2f}–{max(ratios):.2f}",
            ]
        )
    return [
        "## 3b. Out of the box vs the tuned configuration before (paired)",
        "",
        f"`{DEFAULT}` (this commit, no `ALI_*` settings) and `{TUNED_BEFORE}` (section 2's "
        "description) run side by side; each row alternates between them, a warm-up and a timed "
        f"run each, {d['repeats']} times. Medians of requests/s; ratio per pair.",
        "",
        *table(["row", "out of the box", "tuned before", "out of the box ÷ tuned", "spread"], rows),
    ]


SECTION = Section("defaults", render, measure)
