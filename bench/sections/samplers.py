"""Section 8: the cost of each sampler of GET /sample (measured by bench/samplers.py, its own run
and date, into results.json["samplers"])."""

from __future__ import annotations

from bench.sections.common import Results, Section, table

QUALITY = ("fd_ratio", "confident_share", "precision", "recall")


def render(res: Results) -> list[str]:
    s = res["samplers"]
    rows = [
        [
            model,
            f"`{name}`",
            f"{r['p50_ms']:.1f}",
            f"{r['ms_per_image']:.2f}",
            f"{r['cost_vs_ancestral']:.2f}",
            f"{r['acceptance']:.3f}",
            f"{r['proposals_per_image']:.2f}",
            *(f"{r[k]:.3f}" if k in r else "–" for k in QUALITY),
        ]
        for model, per in s["models"].items()
        for name, r in per.items()
    ]
    header = ["model", "sampler", "p50 ms", "ms/image", "× ancestral", "acceptance"]
    header += ["proposals/image", "FD ÷ floor", "confident ≥ 0.9", "precision", "recall"]
    return [
        f"## 8. Samplers: `GET /sample?n={s['n']}&sampler=...`",
        "",
        f"Made by `{s['command']}` on {s['date']} at commit `{s['commit']}`: the service in its "
        f"own process with default settings, one request at a time, {s['requests']} seeds per "
        "sampler (PNG); DRS's acceptance from the JSON answers for the same seeds. The quality "
        "columns come from each model's `ali-eval mnist` (10k samples per sampler; FD ÷ floor: "
        "Fréchet distance to the test digits in the digit judge's features over that of 10k "
        "training digits, 1 = as close as real data).",
        "",
        *table(header, rows),
    ]


SECTION = Section("samplers", render)
