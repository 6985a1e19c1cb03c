"""onnxruntime sessions for a model directory: providers, session options, warm-up.

Synchronous and framework-free, so `ali-eval` and the benchmarks use it as well as the service.
onnxruntime silently falls back to CPU when CUDA libraries are missing, so the providers a session
*really* uses are read back from it (`session.get_providers()`), not assumed from the request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from runtime.cores import CoreTokens
from runtime.manifest import NETWORKS, Manifest, load_manifest
from runtime.options import RuntimeOptions
from runtime.repository import latest_version_dir

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def provider_list(options: RuntimeOptions) -> list[tuple[str, dict[str, Any]]]:
    """The requested providers that this onnxruntime build offers, with their options."""
    available = ort.get_available_providers()
    wanted = options.providers or [CUDA, CPU]
    chosen: list[tuple[str, dict[str, Any]]] = []
    for name in wanted:
        if name not in available:
            log.info("provider %s not offered by this onnxruntime build; skipped", name)
            continue
        opts: dict[str, Any] = {}
        if name == CUDA:
            opts = {
                "device_id": options.cuda_device_id,
                "cudnn_conv_algo_search": options.cudnn_conv_algo_search,
                "arena_extend_strategy": options.arena_extend_strategy,
                # Shapes vary with the batch, so don't pin one cuDNN workspace size per shape.
                "cudnn_conv_use_max_workspace": "1",
                "do_copy_in_default_stream": "1",
            }
            if options.gpu_mem_limit_mb:
                opts["gpu_mem_limit"] = options.gpu_mem_limit_mb * 1024 * 1024
        chosen.append((name, opts))
    if not any(n == CPU for n, _ in chosen):
        chosen.append((CPU, {}))  # always a fallback
    return chosen


def session_options(
    options: RuntimeOptions, intra_op_threads: int | None = None, spin: bool | None = None
) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.graph_optimization_level = _OPT_LEVELS[options.graph_optimization]
    so.intra_op_num_threads = (
        options.intra_op_threads if intra_op_threads is None else intra_op_threads
    )
    so.inter_op_num_threads = 1  # sequential execution: no inter-op parallelism to use
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    # Spinning workers answer the next call sooner; measured on 2 cores, turning it off made
    # GET /sample?n=64 at concurrency 1 slower (27 ms vs 18 ms p50), so it stays on by default.
    spinning = "1" if (options.allow_spinning if spin is None else spin) else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    so.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    return so


class Network:
    """One ONNX graph: named float/int inputs with a dynamic batch axis -> list of outputs.

    With core tokens (runtime/cores.py) on the CPU, one session per thread count in
    tokens.sizes; each call runs on the one that matches the tokens it got. Only calls expected
    to take PARALLEL_MIN_S or more on one thread ask for more than one token: the estimate is
    rows x a running average of one-thread seconds per row.
    """

    PARALLEL_MIN_S = 0.004

    def __init__(
        self, name: str, path: Path, options: RuntimeOptions, tokens: CoreTokens | None = None
    ) -> None:
        self.name = name
        providers = provider_list(options)

        def open_session(threads: int | None = None) -> ort.InferenceSession:
            # Token sessions with helper threads never spin: a helper spinning after its call
            # would burn a core that another worker's call holds the token for.
            spin = False if (tokens and threads and threads > 1) else None
            return ort.InferenceSession(
                str(path),
                sess_options=session_options(options, threads, spin),
                providers=[p for p, _ in providers],
                provider_options=[o for _, o in providers],
            )

        self.session = open_session(1 if tokens else None)
        self.providers: list[str] = self.session.get_providers()  # what really runs
        self.tokens = tokens if self.providers[0] == CPU else None  # a GPU call needs no cores
        self.sessions = {1: self.session}
        if self.tokens:
            self.sessions |= {n: open_session(n) for n in self.tokens.sizes if n > 1}
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.seconds_per_row = 0.0  # one thread, running average (0: not measured yet)

    @property
    def provider(self) -> str:
        return self.providers[0]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.tokens is None:
            return self.session.run(self.output_names, feeds)  # type: ignore[no-any-return]
        rows = len(next(iter(feeds.values())))
        with self.tokens.take(None if self.worth_parallel(rows) else 1) as threads:
            start = time.perf_counter()
            out = self.sessions[threads].run(self.output_names, feeds)
            # threads x seconds bounds the one-thread time from above; without it a cold,
            # overestimated cost would send every call to the multi-thread session for good.
            self.observe(rows, threads * (time.perf_counter() - start))
            return out  # type: ignore[no-any-return]

    def worth_parallel(self, rows: int) -> bool:
        """Whether a call of `rows` rows is long enough (one thread) to gain from more cores."""
        return rows * self.seconds_per_row >= self.PARALLEL_MIN_S

    def observe(self, rows: int, seconds: float) -> None:
        """One call's one-thread seconds for `rows` rows into the running cost per row."""
        per_row = seconds / max(rows, 1)
        old = self.seconds_per_row
        self.seconds_per_row = per_row if old == 0 else 0.9 * old + 0.1 * per_row


@dataclass
class Model:
    manifest: Manifest
    directory: Path
    networks: dict[str, Network] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def provider(self) -> str:
        return self.networks["decoder"].provider

    def example_feeds(self, network: str, n: int = 1) -> dict[str, np.ndarray]:
        m = self.manifest
        x = np.zeros((n, m.image.channels, m.image.height, m.image.width), np.float32)
        z = np.zeros((n, m.latent.dim), np.float32)
        by_net: dict[str, dict[str, np.ndarray]] = {
            "encoder": {"x": x},
            "decoder": {"z": z},
            "discriminator": {"x": x, "z": z},
        }
        feeds = by_net[network]
        if m.conditional:
            feeds["y"] = np.zeros(n, np.int64)
        return feeds

    def warmup(self, batch_sizes: tuple[int, ...] = (1, 8)) -> None:
        """Run each network (each of its sessions) once per batch size so first requests don't
        pay allocation costs."""
        for name, net in self.networks.items():
            for threads, session in net.sessions.items():
                for n in batch_sizes:
                    start = time.perf_counter()
                    session.run(net.output_names, self.example_feeds(name, n))
                    if threads == 1 and n == max(batch_sizes):  # seeds the cost per row
                        net.observe(n, time.perf_counter() - start)

    # Convenience wrappers for offline use (eval, benchmarks); the service goes through batchers.
    def encode(self, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        mu, log_sigma = self.networks["encoder"].run(self.with_labels({"x": x}, y))
        return mu, log_sigma

    def decode(self, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return self.networks["decoder"].run(self.with_labels({"z": z}, y))[0]

    def discriminate(self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        return self.networks["discriminator"].run(self.with_labels({"x": x, "z": z}, y))[0]

    def with_labels(
        self, feeds: dict[str, np.ndarray], y: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Add the `y` input [N] int64 for a conditional model (ValueError if y is missing)."""
        if self.manifest.conditional:
            if y is None:
                m = self.manifest
                raise ValueError(
                    f"model {m.name} is conditional: give one label per item "
                    f"(0..{m.num_classes - 1})"
                )
            feeds["y"] = y.astype(np.int64)
        return feeds


def load_model(
    directory: str | Path, options: RuntimeOptions | None = None, tokens: CoreTokens | None = None
) -> Model:
    """Validate the manifest and file hashes, then open the sessions of each network.
    `directory`: a version's folder, or a model folder (its newest version)."""
    options = options or RuntimeOptions()
    directory = latest_version_dir(directory)
    manifest = load_manifest(directory, verify=True)
    model = Model(manifest, directory)
    for net in NETWORKS:
        model.networks[net] = Network(net, directory / manifest.files[net].path, options, tokens)
    return model
