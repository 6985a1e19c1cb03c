"""Section 3c: what request ids, the JSON access log and traces cost on the peers bench's W2 row
(measured by bench/tracing.py, its own run and date, into results.json["tracing"])."""

from __future__ import annotations

import statistics

from bench.sections.common import Results, Section, table

WHAT = {
    "before": "the code before request ids and tracing (commit `{before}`)",
    "off": "this commit, tracing off (the default)",
    "json log": "`ALI_LOG_LEVEL=info ALI_LOG_FORMAT=json`: a JSON access line per request",
    "on": "`OTEL_TRACES_EXPORTER=otlp`, every request traced, to an OTLP sink on the same host",
    "on, 1 %": "the same, `OTEL_TRACES_SAMPLER=parentbased_traceidratio` at 0.01",
}


def render(res: Results) -> list[str]:
    t = res["tracing"]
    rows = [
        [
            f"`{name}`",
            WHAT[name].format(before=t["before_commit"]),
            f"{statistics.median(rps):.0f}",
            f"**{t['vs_off'][name]['median']:.3f}**",
            "–".join(f"{x:.3f}" for x in t["vs_off"][name]["spread"]),
        ]
        for name, rps in t["requests_per_s"].items()
    ]
    return [
        "## 3c. Request ids, access log and tracing: W2 at c=64 (paired)",
        "",
        f"Made by `{t['command']}` on {t['date']} at commit `{t['commit']}`: the peers bench's "
        f"W2 row (`POST /v2/models/mnist.encoder/infer`, one image, binary tensors) at "
        f"c={t['concurrency']}, with its batch limits. Every server runs side by side with default "
        f"settings (ALI_LOG_LEVEL=warning, as in the peers bench, unless said); the load "
        f"alternates between them, {t['rounds']} rounds of a warm-up and a {t['seconds']} s run "
        "each. Ratio to `off` per round.",
        "",
        *table(["server", "what", "requests/s", "÷ off", "spread"], rows),
    ]


SECTION = Section("tracing", render)
