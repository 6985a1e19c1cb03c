"""What each peer is: its pip requirements, its server script and how a request reaches it.

Every peer serves the shipped mnist decoder and encoder ONNX files through onnxruntime on the CPU
with the service's batching limits (max batch 64, max wait 2 ms) and the same total thread budget
(one onnxruntime thread per core). Pins are exact so that a run can be repeated; the JSON records
the versions pip actually installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.baseline import BASE_COMMIT
from bench.peers.workloads import BENCH_KEY

# The service's own onnxruntime; every peer gets the same one.
ORT = "onnxruntime==1.32.0"
MAX_BATCH = 64
MAX_WAIT_MS = 2.0


@dataclass(frozen=True)
class Peer:
    name: str
    requirements: tuple[str, ...]
    script: str  # file in bench/peers/servers/, run with the peer's own python
    protocol: str  # how requests are carried: workloads.py ("v2", "raw", "b64json", "json")
    # How the peer is configured, as recorded in peers.json (the script reads the same numbers
    # from its environment: PEER_WORKERS, PEER_THREADS, PEER_MAX_BATCH, PEER_MAX_WAIT_MS).
    config: dict[str, object] = field(default_factory=dict)
    version_of: str = ""  # the pip distribution whose version names the peer
    start_timeout_s: float = 120.0


def _config(workers: int, threads: int, note: str) -> dict[str, object]:
    return {
        "workers": workers,
        "onnxruntime_intra_op_threads": threads,
        "max_batch": MAX_BATCH,
        "max_wait_ms": MAX_WAIT_MS,
        "why": note,
    }


def peers(cores: int) -> list[Peer]:
    """The peers, configured for `cores` CPU cores as each one's docs recommend for throughput."""
    return [
        Peer(
            "triton",
            ("nvidia-pytriton==0.7.0", ORT),
            "triton_server.py",
            "v2",
            {
                **_config(
                    1,
                    1,
                    "PyTriton binds one Python callable per model instance; "
                    "instances run at once, so one instance per core with one onnxruntime thread each "
                    "(Triton's instance_group count)",
                ),
                "instances_per_model": cores,
            },
            "nvidia-pytriton",
            start_timeout_s=180.0,
        ),
        Peer(
            "litserve",
            ("litserve==0.2.19", ORT),
            "litserve_server.py",
            "b64json",
            _config(
                cores,
                1,
                "workers_per_device = cores on the CPU accelerator (LitServe's "
                "scaling docs), one onnxruntime thread each",
            ),
            "litserve",
        ),
        Peer(
            "ray_serve",
            ("ray[serve]==2.60.0", ORT),
            "ray_server.py",
            "raw",
            {
                **_config(
                    cores,
                    1,
                    "one replica per core (num_replicas), @serve.batch, "
                    "max_ongoing_requests raised to 256 so batches can form",
                ),
                "max_ongoing_requests": 256,
            },
            "ray",
            start_timeout_s=240.0,
        ),
        Peer(
            "mosec",
            ("mosec==0.9.8", ORT),
            "mosec_server.py",
            "raw",
            _config(
                cores,
                1,
                "one worker process per core (Server.append_worker num=cores), Rust HTTP front end",
            ),
            "mosec",
        ),
        Peer(
            "bentoml",
            ("bentoml==1.4.40", ORT),
            "bentoml_service.py",
            "json",
            _config(
                cores,
                1,
                "workers = cores, batchable=True with max_batch_size and "
                "max_latency_ms (adaptive batching)",
            ),
            "bentoml",
            start_timeout_s=180.0,
        ),
    ]


def service_configs(cores: int) -> dict[str, dict[str, object]]:
    """The service out of the box (no ALI_* setting but the shared batch limits), and the
    configuration tuned by hand that won this bench before it became the default."""
    return {
        "default": {
            "settings": {},
            "why": "out of the box (no ALI_* settings but the batch limits): one worker process "
            f"per usable core sharing {cores} core tokens, one token per call and every free one "
            f"for a long call when nothing else runs, so a lone batch uses every core and no more "
            f"than {cores} onnxruntime threads compute at once",
        },
        "auth": {
            "settings": {"api_key": BENCH_KEY},
            "why": "out of the box with API keys on (ALI_API_KEY); every request carries the key",
        },
        "tuned": {
            "settings": {"workers": cores, "cpu_tokens": cores},
            "why": f"the code before issues 28-29 (commit {BASE_COMMIT}) with the configuration "
            f"tuned by hand then, ALI_WORKERS={cores} ALI_CPU_TOKENS={cores}",
        },
    }
