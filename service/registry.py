"""The model registry: loads every model folder, keeps the broken ones out, owns the batchers.

A folder that fails (missing file, truncated file, hash mismatch, bad manifest, onnxruntime
refusing the graph) is logged with the reason and reported not ready in /models and /readyz;
the other models keep serving.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.cores import CoreTokens
from runtime.manifest import MANIFEST_FILE, NAME_PATTERN, NETWORKS, Manifest
from runtime.model import CUDA, Model, load_model
from runtime.samplers import DrsBound, Prior, calibrate
from service.batcher import Batcher
from service.errors import DeadlineExceeded, InvalidInput, ModelNotFound, NotReady, quote
from service.metrics import Metrics
from service.request_info import note_model
from service.settings import Settings

log = logging.getLogger(__name__)
_NAME = re.compile(NAME_PATTERN)


@dataclass
class ServedModel:
    """A loaded model and its batchers, with deadline-aware async calls into each network."""

    model: Model
    batchers: dict[str, Batcher]
    timeout_s: float
    drs_bound: DrsBound | None = None  # the DRS bound M, set at load time (runtime/samplers.py)

    @property
    def manifest(self) -> Manifest:
        return self.model.manifest

    async def run(self, network: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Any network's graph inputs -> its outputs, through its batcher (with the deadline).

        `feeds` must already match the graph (names, dtypes, fixed dims): rows from every caller
        of this network are concatenated into one batch. The v2 protocol calls it directly."""
        try:
            return await asyncio.wait_for(self.batchers[network].submit(feeds), self.timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{self.model.name}/{network} did not answer within {self.timeout_s:g}s"
            ) from None

    def _feeds(self, feeds: dict[str, np.ndarray], y: np.ndarray | None) -> dict[str, np.ndarray]:
        try:
            return self.model.with_labels(feeds, y)
        except ValueError as e:
            raise InvalidInput(str(e)) from None

    async def encode(self, x: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        mu, log_sigma = await self.run("encoder", self._feeds({"x": x}, y))
        return mu, log_sigma

    async def decode(self, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        x = (await self.run("decoder", self._feeds({"z": z}, y)))[0]
        if not np.isfinite(x).all():  # finite float32 latents can still overflow inside the net
            raise InvalidInput("these latents are too large: the decoder's images are not finite")
        return x

    async def discriminate(self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        return (await self.run("discriminator", self._feeds({"x": x, "z": z}, y)))[0]


def _calibrate(model: Model, proposals: int, chunk: int) -> DrsBound:
    """The model's DRS bound from `proposals` decoder samples (synchronous, before serving), in
    calls no larger than the server's batches: a larger call would grow onnxruntime's memory
    arenas for good (chunks of 256 took the resident set from 192 to 364 MB)."""
    m = model.manifest
    prior = Prior(m.latent.dim, m.num_classes)
    return calibrate(model.decode, model.discriminate, prior, proposals, chunk)


@dataclass
class ModelRegistry:
    settings: Settings
    metrics: Metrics
    models: dict[str, ServedModel] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    ready: bool = False
    draining: bool = False
    tokens: CoreTokens | None = None  # shared CPU budget (runtime/cores.py), when on
    _executor: ThreadPoolExecutor | None = None

    def discover(self) -> list[Path]:
        root = self.settings.model_dir
        if not root.is_dir():
            log.error("model directory %s does not exist", root)
            return []
        return sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST_FILE).exists())

    async def load_all(self) -> None:
        """Load and warm every model; runs the blocking work in a thread, off the event loop."""
        s = self.settings
        # With core tokens (CPU), one call per token: the tokens decide how many really run at
        # once. Without (CUDA), one call at a time per process, as Triton's default instance.
        workers = self.tokens.total if self.tokens else 1
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ort")
        for directory in self.discover():
            name = directory.name
            try:
                model = await asyncio.to_thread(
                    load_model, directory, s.runtime_options(), self.tokens
                )
                if model.name != name:
                    raise ValueError(
                        f"manifest name {quote(model.name)} differs from folder {quote(name)}"
                    )
                if s.warmup:
                    await asyncio.to_thread(model.warmup)
                bound = await asyncio.to_thread(
                    _calibrate, model, s.drs_calibration, min(64, s.max_batch_size)
                )
            except Exception as e:  # report, keep the others serving
                self.failures[name] = str(e)
                log.error("model %s not loaded: %s", name, e)
                continue
            batchers = {}
            for net in NETWORKS:
                b = Batcher(
                    f"{name}/{net}",
                    model.networks[net].run,
                    self._executor,
                    max_batch_size=s.max_batch_size,
                    max_wait_s=s.max_wait_ms / 1000,
                    coalesce=s.batching,
                    max_concurrent=workers,
                    # With tokens, a second call beside a running one only if it is long.
                    overlap_ok=model.networks[net].worth_parallel if self.tokens else None,
                    max_queue_rows=s.max_queue_rows,
                    observer=self.metrics.observer(name, model.manifest.version, net),
                    requests_in_flight=lambda: self.metrics.active_requests,
                )
                b.start()
                batchers[net] = b
            self.models[name] = ServedModel(model, batchers, s.request_timeout_s, bound)
            m = model.manifest
            log.info(
                "model %s: DRS bound M %.3f, acceptance %.3f", name, bound.bound, bound.acceptance
            )
            self.metrics.model_info.labels(m.name, m.version, model.provider).set(1)
            log.info("model %s v%s ready on %s", name, m.version, model.provider)
        self.ready = True

    async def close(self) -> None:
        for served in self.models.values():
            for b in served.batchers.values():
                await b.stop()
        if self._executor:
            self._executor.shutdown(wait=True)

    # ---- lookups --------------------------------------------------------------------------
    @property
    def default_name(self) -> str | None:
        """ALI_DEFAULT_MODEL, else the first model folder by name, whether it loaded or not: a
        default that failed is a 503 naming it, never a silent switch to another model."""
        if self.settings.default_model:
            return self.settings.default_model
        return next(iter(sorted([*self.models, *self.failures])), None)

    def get(self, name: str | None) -> ServedModel:
        name = name or self.default_name
        if name is None:
            raise NotReady("no model is loaded")
        if name in self.models:
            served = self.models[name]
            note_model(name, served.manifest.version)  # for the access log and the trace
            return served
        if name in self.failures:
            raise NotReady(f"model {name} failed to load: {self.failures[name]}")
        if not _NAME.match(name):
            raise ModelNotFound(
                f"model name {quote(name)} is not valid (lowercase letters, digits, . _ -)"
            )
        known = ", ".join(sorted(self.models)) or "none"
        raise ModelNotFound(f"unknown model {quote(name)}; loaded models: {known}")

    def readiness(self) -> tuple[bool, str]:
        if self.draining:
            return False, "draining: shutting down"
        if not self.ready:
            return False, "loading models"
        if not self.models:
            return False, "no model loaded"
        if self.settings.require_gpu:
            cpu_only = [n for n, m in self.models.items() if m.model.provider != CUDA]
            if cpu_only:
                return False, f"require_gpu is set but {cpu_only} run on CPU (CUDA not active)"
        default = self.default_name
        if default not in self.models:
            why = self.failures.get(default or "", "no such model folder")
            return False, f"default model {default} is not loaded: {why}"
        if self.failures:
            return True, f"ready; not loaded: {sorted(self.failures)}"
        return True, "ready"
