"""peers.json -> the ratios list and the "Peers" section of BENCHMARKS.md (no clock: its date and
commit are the run's own)."""

from __future__ import annotations

import statistics
from typing import Any

SERVICE = "service"  # out of the box
TUNED = "service-tuned"  # the hand-tuned configuration, when the run has it
AUTH = "service-auth"  # out of the box with API keys on, when the run has it
VARIANTS = (SERVICE, TUNED, AUTH)


def _rows(res: dict[str, Any], name: str, workload: str, c: int, key: str) -> list[float]:
    return [
        float(rep[workload][str(c)][key] if str(c) in rep[workload] else rep[workload][c][key])
        for rep in res["runs"][name]
    ]


def _median(res: dict[str, Any], name: str, workload: str, c: int, key: str) -> float:
    return statistics.median(_rows(res, name, workload, c, key))


def ratios(res: dict[str, Any]) -> list[dict[str, Any]]:
    """service ÷ best peer throughput per (workload, concurrency), with the spread over repeats.

    The best peer is the one with the highest median throughput on that row; each repeat's ratio
    is taken against that repeat's figure of the same peer. Concurrency-1 rows also carry the
    p50 latencies (the best peer there is the one with the lowest median p50).
    """
    peers = [n for n in res["runs"] if n not in VARIANTS]
    out: list[dict[str, Any]] = []
    if not peers:
        return out
    for wname, w in res["workloads"].items():
        for c in w["concurrency"]:
            best = max(peers, key=lambda n: _median(res, n, wname, c, "requests_per_s"))
            each = [
                s / p
                for s, p in zip(
                    _rows(res, SERVICE, wname, c, "requests_per_s"),
                    _rows(res, best, wname, c, "requests_per_s"),
                    strict=False,
                )
            ]
            row: dict[str, Any] = {
                "workload": wname,
                "concurrency": c,
                "service_vs_best_peer": round(statistics.median(each), 3),
                "best_peer": best,
                "spread": [round(min(each), 3), round(max(each), 3)],
            }
            if c == 1:
                fastest = min(peers, key=lambda n: _median(res, n, wname, 1, "p50_ms"))
                row["p50_c1_service_ms"] = round(_median(res, SERVICE, wname, 1, "p50_ms"), 2)
                row["p50_c1_best_peer_ms"] = round(_median(res, fastest, wname, 1, "p50_ms"), 2)
                row["p50_c1_best_peer"] = fastest
                p50s = _rows(res, SERVICE, wname, 1, "p50_ms")
                row["p50_c1_service_spread_ms"] = [round(min(p50s), 2), round(max(p50s), 2)]
            out.append(row)
    return out


def default_vs_tuned(res: dict[str, Any], other: str = TUNED) -> list[dict[str, Any]]:
    """Out of the box ÷ `other` throughput per row, paired by repeat (same run, same cores)."""
    if other not in res["runs"]:
        return []
    out = []
    for wname, w in res["workloads"].items():
        for c in w["concurrency"]:
            pairs = zip(
                _rows(res, SERVICE, wname, c, "requests_per_s"),
                _rows(res, other, wname, c, "requests_per_s"),
                strict=False,
            )
            each = [d / t for d, t in pairs]
            out.append(
                {
                    "workload": wname,
                    "concurrency": c,
                    "default_vs_tuned": round(statistics.median(each), 3),
                    "spread": [round(min(each), 3), round(max(each), 3)],
                }
            )
    return out


def section(res: dict[str, Any]) -> list[str]:
    n = res["repeats"]
    lines = [
        "## 9. Peers: Triton, LitServe, Ray Serve, mosec, BentoML",
        "",
        f"`{res['command']}` (bench/peers/, raw figures in bench/peers.json) on {res['date']} at "
        f"commit `{res['commit']}`, {res['wall_seconds'] / 60:.1f} min. Each server ran alone on "
        f"the {res['machine']['cpus']} cores, serving the shipped `mnist` decoder and encoder "
        "ONNX files with onnxruntime on the CPU, max batch 64, max wait 2 ms, one onnxruntime "
        "thread per core in total. Each server's first answer to each workload was checked "
        "against onnxruntime in the bench process. wrk, closed loop: "
        f"{res['warmup_seconds']:g} s warm-up, then {res['seconds']:g} s timed, per row; "
        f"{n} repeats, medians shown.",
        "",
        "| server | version | protocol | configuration |",
        "|---|---|---|---|",
    ]
    for name, s in res["servers"].items():
        if name in res["runs"]:
            lines.append(f"| {name} | {s['version']} | {s['protocol']} | {s['config']['why']} |")
    for wname, w in res["workloads"].items():
        lines += [
            "",
            f"**{wname}: {w['what']} per request** (requests/s; p50 / p99 ms)",
            "",
            "| server | " + " | ".join(f"c={c}" for c in w["concurrency"]) + " |",
            "|---|" + "---|" * len(w["concurrency"]),
        ]
        for name in res["runs"]:
            cells = [
                f"{_median(res, name, wname, c, 'requests_per_s'):.1f} "
                f"({_median(res, name, wname, c, 'p50_ms'):.2f} / "
                f"{_median(res, name, wname, c, 'p99_ms'):.2f})"
                for c in w["concurrency"]
            ]
            label = {SERVICE: "**service** (out of the box)", TUNED: "service, tuned"}.get(
                name, name
            )
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**Service ÷ best peer** (throughput; spread = lowest and highest of the {n} repeats)",
        "",
        "| workload | concurrency | best peer | service ÷ best peer | spread | p50 c=1: service vs best peer |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["ratios"]:
        p50 = (
            f"{r['p50_c1_service_ms']:.2f} vs {r['p50_c1_best_peer_ms']:.2f} ms ({r['p50_c1_best_peer']})"
            if "p50_c1_service_ms" in r
            else ""
        )
        lines.append(
            f"| {r['workload']} | {r['concurrency']} | {r['best_peer']} | "
            f"{r['service_vs_best_peer']:.2f} | {r['spread'][0]:.2f}–{r['spread'][1]:.2f} | {p50} |"
        )
    lost = [r for r in res["ratios"] if r["service_vs_best_peer"] < 1.0]
    slower = [
        r
        for r in res["ratios"]
        if "p50_c1_service_ms" in r and r["p50_c1_service_ms"] > r["p50_c1_best_peer_ms"]
    ]
    lines.append("")
    if lost or slower:
        rows = [
            f"{r['workload']} c={r['concurrency']} ({r['service_vs_best_peer']:.2f}× "
            f"{r['best_peer']})"
            for r in lost
        ]
        rows += [f"{r['workload']} p50 at c=1" for r in slower]
        lines.append(
            "Rows the service did not win: " + ", ".join(rows) + ". What the profiles show "
            "there, and what was changed because of them: [docs/peers.md](docs/peers.md)."
        )
    else:
        lines.append(
            "The service won every row. Profiles and history: [docs/peers.md](docs/peers.md)."
        )
    tuned = default_vs_tuned(res)
    if tuned:
        lines += [
            "",
            "**Out of the box ÷ tuned** (throughput, paired by repeat; spread = lowest and highest)",
            "",
            "| workload | concurrency | out of the box ÷ tuned | spread |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {t['workload']} | {t['concurrency']} | {t['default_vs_tuned']:.2f} | "
            f"{t['spread'][0]:.2f}–{t['spread'][1]:.2f} |"
            for t in tuned
        ]
    with_keys = default_vs_tuned(res, AUTH)
    if with_keys:
        lines += [
            "",
            "**API keys off ÷ on** (throughput, paired by repeat; above 1: the keys cost)",
            "",
            "| workload | concurrency | off ÷ on | spread |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {t['workload']} | {t['concurrency']} | {t['default_vs_tuned']:.2f} | "
            f"{t['spread'][0]:.2f}–{t['spread'][1]:.2f} |"
            for t in with_keys
        ]
    if res["peers_failed"]:
        lines += ["", "Peers that could not run here, with their errors:", ""]
        lines += [f"- **{k}**: `{v}`" for k, v in res["peers_failed"].items()]
    return lines
