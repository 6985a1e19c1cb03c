"""Section 3d: model swaps on a live server (measured by bench/swaps.py, its own run and date,
into results.json["swaps"])."""

from __future__ import annotations

import statistics

from bench.sections.common import Results, Section, table

HOW = {
    "poll": "`ALI_MODEL_CONTROL=poll` (scan every 5 s, the default)",
    "explicit": "`ALI_MODEL_CONTROL=explicit`, `POST /v2/repository/models/mnist/load`",
}


def render(res: Results) -> list[str]:
    s = res["swaps"]
    rows = []
    for mode, m in s["modes"].items():
        took = m["export_to_first_answer_s"]
        rows.append(
            [
                HOW[mode],
                f"**{statistics.median(took):.2f}** ({min(took):.2f}–{max(took):.2f})",
                f"{m['steady_p50_ms']:.1f} / {m['swap_p50_ms']:.1f}",
                f"{m['steady_p99_ms']:.1f} / **{m['swap_p99_ms']:.1f}**",
                f"{m['swap_p99_ms'] / m['steady_p99_ms']:.2f}",
                f"{m['failed']} of {m['requests']}",
            ]
        )
    return [
        "## 3d. Model swaps: export to first answer, latency during a swap",
        "",
        f"Made by `{s['command']}` on {s['date']} at commit `{s['commit']}`: the service with "
        f"default settings ({s['cores']} cores) on a copy of `mnist`, {s['clients']} clients "
        "sending `GET /sample?n=1` back to back throughout. Each of "
        f"{s['swaps']} swaps per mode: {s['steady_s']:g} s steady, then a new version published "
        "as `ali-export` does (the same files: the work per request is unchanged). Export to "
        "first answer: from the rename into place to the first answer naming the new version. "
        f"The swap window: from the rename to {s['settle_s']:g} s after that answer; steady: "
        "the windows before each publish.",
        "",
        *table(
            [
                "how it goes live",
                "export → first answer, s: median (range)",
                "p50 ms steady / swap",
                "p99 ms steady / swap",
                "p99 swap ÷ steady",
                "failed requests",
            ],
            rows,
        ),
    ]


SECTION = Section("swaps", render)
