"""Section 9b: the peers bench's gRPC rows, the service against Triton (measured by
bench.grpc_peers.py, its own run and date, into results.json["peers_grpc"])."""

from __future__ import annotations

import statistics

from bench.sections.common import Results, Section, table


def render(res: Results) -> list[str]:
    g = res["peers_grpc"]
    rows = []
    for w, by_c in g["service_vs_triton"].items():
        for c, ratio in by_c.items():
            service = statistics.median(g["requests_per_s"]["service"][w][c])
            triton = statistics.median(g["requests_per_s"]["triton"][w][c])
            rows.append(
                [
                    f"{w} ({g['workloads'][w]})",
                    str(c),
                    f"{service:.0f}",
                    f"{triton:.0f}",
                    f"**{ratio['median']:.2f}**",
                    "–".join(f"{x:.2f}" for x in ratio["spread"]),
                ]
            )
    ceiling = ", ".join(f"c={c}: {v:.0f}/s" for c, v in g["generator_ceiling_per_s"].items())
    return [
        "## 9b. The peers bench over gRPC: the service against Triton",
        "",
        f"Made by `{g['command']}` on {g['date']} at commit `{g['commit']}`, {g['cores']} cores: "
        f"the service with default settings and Triton {g['triton_version']} (PyTriton) side by "
        f"side, both with the peers bench's batch limits ({g['max_batch']} rows, "
        f"{g['max_wait_ms']:g} ms). Requests carry raw FP32 rows (`raw_input_contents`); h2load "
        f"keeps c calls in flight, one per connection; {g['repeats']} repeats of a 1 s warm-up "
        f"and a {g['seconds']} s run per row and server, alternating. Ratio per repeat. The load "
        f"generator alone, against nghttpd answering a static body: {ceiling}.",
        "",
        *table(["workload", "c", "service /s", "Triton /s", "service ÷ Triton", "spread"], rows),
    ]


SECTION = Section("peers_grpc", render)
