"""`make bench-peers`: the service and each peer in turn on the same cores, models and load.

    python -m bench.peers                      # all peers, 2 repeats -> bench/peers.json, BENCHMARKS.md
    python -m bench.peers --smoke              # one peer (mosec), one concurrency, ~1 s each: CI
    python -m bench.peers --peers triton,mosec # a subset (still rewrites peers.json)

For each repeat, each server starts alone (nothing else loads the cores), answers one check
request whose outputs must equal onnxruntime's in this process, then wrk drives every
(workload, concurrency) row: a warm-up, then the timed run. Peers install into their own
environments (.venv-peers/) on first use; one that fails to install or start is recorded with
its error in peers_failed and the run goes on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bench import baseline, http_load
from bench.peers import envs, processes, report
from bench.peers.specs import MAX_BATCH, MAX_WAIT_MS, Peer, peers, service_configs
from bench.peers.workloads import Workload, decode_answer, request, workloads
from bench.provenance import git_commit
from runtime.repository import latest_version_dir
from service.testing.server import ROOT, free_port, service_env

SERVERS_DIR = Path(__file__).resolve().parent / "servers"
PEERS_JSON = ROOT / "bench" / "peers.json"
SERVICE = report.SERVICE  # the service out of the box: what the ratios compare with the peers
TUNED = report.TUNED  # the hand-tuned configuration, run beside it to show the default is as good
AUTH = report.AUTH  # out of the box with API keys on
VARIANTS = {SERVICE: "default", TUNED: "tuned", AUTH: "auth"}


def expected(model_dir: Path, w: Workload) -> np.ndarray:
    """The right answer, from onnxruntime in this process: [N, features]."""
    sess = ort.InferenceSession(
        str(latest_version_dir(model_dir) / f"{w.network}.onnx"), providers=["CPUExecutionProvider"]
    )
    outs = sess.run(None, {w.input_name: w.rows})
    return np.concatenate([o.reshape(len(w.rows), -1) for o in outs], axis=1)


def service_config(name: str, cores: int) -> dict[str, object]:
    cfg = service_configs(cores)[name]
    return {
        "name": name,
        **cfg["settings"],  # type: ignore[dict-item]
        "max_batch": MAX_BATCH,
        "max_wait_ms": MAX_WAIT_MS,
        "why": f"{cfg['why']}; the batcher counts rows",
    }


def start_service(
    model_dir: Path, settings: dict[str, object], log: Path, name: str = SERVICE, code: Path = ROOT
) -> processes.Running:
    """The service with `settings` (ALI_* names, lower case) and the shared batching limits."""
    port = free_port()
    env = service_env(
        model_dir.parent,
        port,
        code=code,
        default_model=model_dir.name,
        max_batch_size=MAX_BATCH,
        max_wait_ms=MAX_WAIT_MS,
        **settings,
    )
    return processes.launch(
        name, [sys.executable, "-m", "service.main"], env, code, f"http://127.0.0.1:{port}", log
    )


def start_peer(
    peer: Peer, python: Path, model_dir: Path, cores: int, log: Path
) -> processes.Running:
    port = free_port()
    workers = int(peer.config.get("workers", 1))  # type: ignore[call-overload]
    env = {
        **os.environ,
        "PYTHONPATH": str(SERVERS_DIR),
        "PEER_MODEL_DIR": str(latest_version_dir(model_dir).resolve()),
        "PEER_PORT": str(port),
        "PEER_WORKERS": str(workers),
        "PEER_INSTANCES": str(peer.config.get("instances_per_model", 1)),
        "PEER_THREADS": str(peer.config["onnxruntime_intra_op_threads"]),
        "PEER_MAX_BATCH": str(MAX_BATCH),
        "PEER_MAX_WAIT_MS": str(MAX_WAIT_MS),
        "OMP_NUM_THREADS": "1",
        # Triton's Python-backend stub links libpython dynamically: without this it can load the
        # system's libpython beside this interpreter's standard library, and fail to start.
        "LD_LIBRARY_PATH": ":".join(
            x for x in (sysconfig.get_config_var("LIBDIR"), os.environ.get("LD_LIBRARY_PATH")) if x
        ),
        "RAY_USAGE_STATS_ENABLED": "0",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if peer.script.endswith("_service.py"):  # BentoML: its CLI imports the service module
        cmd = [
            str(python),
            "-m",
            "bentoml",
            "serve",
            f"{peer.script[:-3]}:Peer",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    else:
        cmd = [str(python), str(SERVERS_DIR / peer.script)]
    return processes.launch(
        peer.name,
        cmd,
        env,
        SERVERS_DIR,
        f"http://127.0.0.1:{port}",
        log,
        str(envs.ROOT / peer.name),
    )


def check_answers(
    run: processes.Running, protocol: str, model: str, model_dir: Path, ws: list[Workload]
) -> None:
    """Each workload's answer must be onnxruntime's (the peer really runs the model)."""
    for w in ws:
        status, body, headers = processes.post(run.url, request(protocol, w, model))
        if status != 200:
            raise RuntimeError(f"{w.name}: HTTP {status}: {body[:200]!r}")
        got = decode_answer(protocol, body, headers, len(w.rows))
        want = expected(model_dir, w)
        if got.shape != want.shape or not np.allclose(got, want, atol=1e-4):
            raise RuntimeError(f"{w.name}: wrong answer (shape {got.shape}, want {want.shape})")


def measure(
    run: processes.Running,
    protocol: str,
    model: str,
    ws: list[Workload],
    seconds: float,
    warmup: float,
    scripts: Path,
) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for w in ws:
        req = request(protocol, w, model)
        script = http_load.post_script(
            scripts / f"{run.name}-{w.name}.lua", req.body, req.content_type, req.headers
        )
        out[w.name] = {}
        for c in w.concurrency:
            http_load.wrk(run.url + req.path, c, warmup, script)
            r = http_load.wrk(run.url + req.path, c, seconds, script)
            out[w.name][c] = r
            print(
                f"  {run.name} {w.name} c={c}: {r['requests_per_s']:.1f}/s "
                f"p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms",
                file=sys.stderr,
            )
    return out


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    model_dir = (Path(args.models) / args.model).resolve()
    ws = workloads(smoke=args.smoke)
    chosen = [p for p in peers(cores) if p.name in args.peers]
    scripts = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    res: dict[str, Any] = {
        "command": "make bench-peers" if not args.smoke else "python -m bench.peers --smoke",
        "machine": {"cpus": cores, "platform": platform.platform()},
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "repeats": args.repeats,
        "workloads": {
            w.name: {
                "what": w.what,
                "concurrency": list(w.concurrency),
                "request_rows": list(w.rows.shape),
            }
            for w in ws
        },
        "servers": {
            name: {
                "version": "this repo",
                "protocol": "service",
                "config": service_config(VARIANTS[name], cores),
            }
            for name in args.services
        },
        "peers_failed": {},
        "runs": {name: [] for name in args.services},
    }
    for peer in chosen:
        try:
            envs.ensure(peer)
        except envs.InstallError as e:
            res["peers_failed"][peer.name] = str(e)
            continue
        res["servers"][peer.name] = {
            "version": envs.version(peer),
            "protocol": peer.protocol,
            "requirements": list(peer.requirements),
            "config": peer.config,
        }
        res["runs"][peer.name] = []
    started = time.monotonic()
    for rep in range(args.repeats):
        for name in list(res["runs"]):
            if name in res["peers_failed"]:
                continue
            log = scripts / f"{name}-{rep}.log"
            print(f"[repeat {rep + 1}/{args.repeats}] {name}", file=sys.stderr)
            if name in VARIANTS:
                settings = service_configs(cores)[VARIANTS[name]]["settings"]
                code = baseline.worktree() if name == TUNED else ROOT
                run = start_service(model_dir, settings, log, name, code)  # type: ignore[arg-type]
                protocol, timeout = ("service-auth" if name == AUTH else SERVICE), 60.0
            else:
                peer = next(p for p in chosen if p.name == name)
                run = start_peer(peer, envs.python_of(peer), model_dir, cores, log)
                protocol, timeout = peer.protocol, peer.start_timeout_s
            try:
                processes.wait_ready(run, request(protocol, ws[-1], args.model), timeout)
                check_answers(run, protocol, args.model, model_dir, ws)
                res["runs"][name].append(
                    measure(run, protocol, args.model, ws, args.seconds, args.warmup, scripts)
                )
            except Exception as e:  # noqa: BLE001 - any failure of a peer is a finding
                if name in VARIANTS:
                    raise
                res["peers_failed"][name] = f"{type(e).__name__}: {e}"
                del res["runs"][name]
            finally:
                processes.stop(run)
    res["wall_seconds"] = round(time.monotonic() - started, 1)
    res["peers_run"] = [n for n in res["runs"] if n not in VARIANTS]
    res["ratios"] = report.ratios(res)
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="mosec only, one concurrency, 1 s runs")
    p.add_argument("--peers", default=",".join(x.name for x in peers(2)))
    p.add_argument(
        "--default-only",
        action="store_true",
        help="run the service out of the box only (not also tuned-before and with API keys)",
    )
    p.add_argument("--models", default=str(ROOT / "models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--seconds", type=int, default=5, help="timed wrk run per row (whole s)")
    p.add_argument("--warmup", type=int, default=1, help="wrk warm-up before each row (whole s)")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    args.peers = args.peers.split(",")
    args.services = [SERVICE] if args.default_only or args.smoke else [SERVICE, TUNED, AUTH]
    if args.smoke:
        args.peers, args.seconds, args.warmup, args.repeats = ["mosec"], 1, 1, 1
    res = run_all(args)
    if args.smoke:
        print(json.dumps({k: res[k] for k in ("peers_run", "peers_failed", "ratios")}, indent=2))
        if not res["peers_run"]:
            sys.exit(f"smoke: no peer ran: {res['peers_failed']}")
        return
    res["date"] = time.strftime("%Y-%m-%d")
    res["commit"] = git_commit()
    PEERS_JSON.write_text(json.dumps(res, indent=2, default=str) + "\n")
    # BENCHMARKS.md is bench.run's to render (it reads peers.json beside results.json).
    subprocess.run([sys.executable, "-m", "bench.run", "--render"], cwd=ROOT, check=True)
    print("\n".join(report.section(res)))
