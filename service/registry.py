"""The model registry: the versions being served, their batchers, and the swaps between them.

A version is loaded, warmed up and calibrated (its DRS bound) before it takes traffic; then
unversioned requests go to the newest ready version of its model. A version that is no longer
wanted is retired: out of routing first, then it waits until every request already routed to it
has finished (each holds a lease, service/request_info.py), then its batchers stop and its
sessions are released. A version that fails to load never replaces a good one, and `index()`
says why. Which versions should be loaded is decided by service/model_control.py (none, poll,
explicit), which calls `reconcile` and `unload`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from runtime.cores import CoreTokens
from runtime.manifest import NAME_PATTERN, NETWORKS, Manifest
from runtime.model import CUDA, Model, load_model
from runtime.repository import ModelDir, VersionDir, version_key
from runtime.samplers import DrsBound, Prior, calibrate
from service.allocator import release_freed_memory
from service.batcher import Batcher
from service.errors import DeadlineExceeded, InvalidInput, ModelNotFound, NotReady, quote
from service.metrics import Metrics
from service.request_info import lease
from service.settings import Settings

log = logging.getLogger(__name__)
_NAME = re.compile(NAME_PATTERN)
UNLOADED = "unloaded"


class State(StrEnum):
    """A version's load state, with Triton's names (its repository index shows them)."""

    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass
class VersionStatus:
    state: State
    reason: str = ""
    fingerprint: tuple[Any, ...] = ()  # of the files it was loaded (or failed) from
    failed: bool = False  # UNAVAILABLE because loading, checking or warming it up failed


@dataclass
class ServedModel:
    """One loaded version and its batchers, with deadline-aware async calls into each network."""

    model: Model
    batchers: dict[str, Batcher]
    timeout_s: float
    drs_bound: DrsBound | None = None  # the DRS bound M, set at load time (runtime/samplers.py)
    fingerprint: tuple[Any, ...] = ()
    users: int = 0  # requests routed here that have not finished (their leases)

    @property
    def manifest(self) -> Manifest:
        return self.model.manifest

    @property
    def version(self) -> str:
        return self.model.manifest.version

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

    @property
    def idle(self) -> bool:
        return self.users == 0 and all(b.idle for b in self.batchers.values())


def _calibrate(model: Model, proposals: int, chunk: int) -> DrsBound:
    """The model's DRS bound from `proposals` decoder samples (synchronous, before serving), in
    calls no larger than the server's batches: a larger call would grow onnxruntime's memory
    arenas for good (chunks of 256 took the resident set from 192 to 364 MB)."""
    m = model.manifest
    prior = Prior(m.latent.dim, m.num_classes)
    return calibrate(model.decode, model.discriminate, prior, proposals, chunk)


@dataclass(frozen=True)
class IndexEntry:
    name: str
    version: str
    state: str
    reason: str = ""


@dataclass
class ModelRegistry:
    settings: Settings
    metrics: Metrics
    tokens: CoreTokens | None = None  # shared CPU budget (runtime/cores.py), when on
    served: dict[str, dict[str, ServedModel]] = field(default_factory=dict)  # ready versions
    latest: dict[str, ServedModel] = field(default_factory=dict)  # what unversioned calls get
    status: dict[str, dict[str, VersionStatus]] = field(default_factory=dict)  # all ever tried
    problems: dict[str, str] = field(default_factory=dict)  # per model: a bad version policy
    ready: bool = False
    draining: bool = False
    _executor: ThreadPoolExecutor | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retiring: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        # With core tokens (CPU), one call per token: the tokens decide how many really run at
        # once. Without (CUDA), one call at a time per process, as Triton's default instance.
        self._executor = ThreadPoolExecutor(max_workers=self._calls, thread_name_prefix="ort")

    @property
    def _calls(self) -> int:
        return self.tokens.total if self.tokens else 1

    async def close(self) -> None:
        async with self._lock:
            for name in list(self.served):
                self._retire_model(name, "shutting down")
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._executor:
            self._executor.shutdown(wait=True)

    # ---- changes: called by service/model_control.py -------------------------------------
    async def reconcile(self, models: dict[str, ModelDir], retry_failed: bool = False) -> None:
        """Serve what each model's version policy selects of its versions on disk: load new or
        changed versions, then retire the versions no longer selected, once one that is
        selected is ready. A version that failed is retried when its files change (or with
        `retry_failed`, an explicit load)."""
        async with self._lock:
            for model in models.values():
                await self._reconcile_model(model, retry_failed)

    async def unload(self, names: list[str], reason: str = UNLOADED) -> None:
        async with self._lock:
            for name in names:
                self._retire_model(name, reason)
                for version, st in list(self.status.get(name, {}).items()):
                    if st.state != State.UNLOADING:
                        self._set_status(name, version, VersionStatus(State.UNAVAILABLE, reason))

    async def _reconcile_model(self, model: ModelDir, retry_failed: bool) -> None:
        name = model.name
        if model.problem:
            self.problems[name] = model.problem
        else:
            self.problems.pop(name, None)
        wanted = model.selected()
        for vd in wanted:
            current = self.served.get(name, {}).get(vd.version)
            if current is not None and current.fingerprint == vd.fingerprint:
                continue
            before = self.status.get(name, {}).get(vd.version)
            failed_before = (
                before is not None and before.failed and before.fingerprint == vd.fingerprint
            )
            if failed_before and not retry_failed:
                continue
            await self._load(vd)
        keep = {vd.version for vd in wanted}
        if keep & set(self.served.get(name, {})):  # a selected version serves: retire the rest
            for version, served in list(self.served[name].items()):
                if version not in keep:
                    self._retire(served, "not selected by the version policy")

    async def _load(self, vd: VersionDir) -> None:
        s, name, version = self.settings, vd.model, vd.version
        self._set_status(name, version, VersionStatus(State.LOADING, fingerprint=vd.fingerprint))
        start = time.perf_counter()
        try:
            model = await asyncio.to_thread(load_model, vd.path, s.runtime_options(), self.tokens)
            m = model.manifest
            if m.name != name:
                raise ValueError(f"manifest name {quote(m.name)} differs from folder {quote(name)}")
            if m.version != version:
                raise ValueError(
                    f"manifest version {quote(m.version)} differs from its folder's {quote(version)}"
                )
            if s.warmup:
                await asyncio.to_thread(model.warmup)
            bound = await asyncio.to_thread(
                _calibrate, model, s.drs_calibration, min(64, s.max_batch_size)
            )
        except Exception as e:  # report; whatever serves keeps serving
            reason = str(e).replace("\n", " ")
            self._set_status(
                name, version, VersionStatus(State.UNAVAILABLE, reason, vd.fingerprint, failed=True)
            )
            log.error("model %s version %s not loaded: %s", name, version, reason)
            return
        await asyncio.to_thread(release_freed_memory)  # what building the sessions freed
        served = ServedModel(
            model, self._batchers(model), s.request_timeout_s, bound, vd.fingerprint
        )
        self.metrics.model_load.labels(name).observe(time.perf_counter() - start)
        old = self.served.setdefault(name, {}).get(version)
        self.served[name][version] = served
        self._route(name)
        self._set_status(name, version, VersionStatus(State.READY, fingerprint=vd.fingerprint))
        self.metrics.model_info.labels(name, version, model.provider).set(1)
        log.info(
            "model %s version %s ready on %s in %.2fs (DRS bound M %.3f, acceptance %.3f)",
            name,
            version,
            model.provider,
            time.perf_counter() - start,
            bound.bound,
            bound.acceptance,
        )
        if old is not None:  # the same version, changed on disk: the old copy drains away
            self._retire(old, None)

    def _batchers(self, model: Model) -> dict[str, Batcher]:
        s, name, batchers = self.settings, model.name, {}
        for net in NETWORKS:
            b = Batcher(
                f"{name}/{net}",
                model.networks[net].run,
                self._executor,  # type: ignore[arg-type]
                max_batch_size=s.max_batch_size,
                max_wait_s=s.max_wait_ms / 1000,
                coalesce=s.batching,
                max_concurrent=self._calls,
                # With tokens, a second call beside a running one only if it is long.
                overlap_ok=model.networks[net].worth_parallel if self.tokens else None,
                max_queue_rows=s.max_queue_rows,
                observer=self.metrics.observer(name, model.manifest.version, net),
                requests_in_flight=lambda: self.metrics.active_requests,
            )
            b.start()
            batchers[net] = b
        return batchers

    def _route(self, name: str) -> None:
        versions = self.served.get(name)
        if versions:
            self.latest[name] = versions[max(versions, key=version_key)]
        else:
            self.served.pop(name, None)
            self.latest.pop(name, None)

    def _retire_model(self, name: str, reason: str) -> None:
        for served in list(self.served.get(name, {}).values()):
            self._retire(served, reason)

    def _retire(self, served: ServedModel, reason: str | None) -> None:
        """Out of routing now; closed in the background once its requests have finished.
        `reason` None: a newer copy of the same version took its place (status unchanged)."""
        name, version = served.model.name, served.version
        if self.served.get(name, {}).get(version) is served:
            del self.served[name][version]
            self._route(name)
        status = None
        if reason is not None:
            status = VersionStatus(State.UNLOADING, reason, served.fingerprint)
            self._set_status(name, version, status)
        task = asyncio.get_running_loop().create_task(self._close_when_idle(served, status))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _close_when_idle(self, served: ServedModel, status: VersionStatus | None) -> None:
        name, version = served.model.name, served.version
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout_s + 1.0
        while not served.idle and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for b in served.batchers.values():
            await b.stop()
        provider = served.model.provider
        served.batchers = {}
        served.model.networks.clear()  # the sessions go with the last reference
        release_freed_memory()
        if status is not None:
            self.metrics.model_info.labels(name, version, provider).set(0)
            if self.status.get(name, {}).get(version) is status:  # not reloaded meanwhile
                self._set_status(name, version, VersionStatus(State.UNAVAILABLE, status.reason))
        log.info("model %s version %s released", name, version)

    def _set_status(self, name: str, version: str, status: VersionStatus) -> None:
        self.status.setdefault(name, {})[version] = status
        for state in State:
            self.metrics.model_state.labels(name, version, state.value).set(
                1 if state == status.state else 0
            )

    # ---- lookups --------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every model the registry has heard of: loaded, loading, failed or unloaded."""
        return sorted({*self.status, *self.problems})

    @property
    def default_name(self) -> str | None:
        """ALI_DEFAULT_MODEL, else the first model by name, whether it loaded or not: a
        default that failed is a 503 naming it, never a silent switch to another model."""
        if self.settings.default_model:
            return self.settings.default_model
        names = self.names()
        return names[0] if names else None

    def get(self, name: str | None, version: str | None = None) -> ServedModel:
        """The version asked for, else the newest ready one; the request holds a lease on it
        until it finishes, so a swap cannot close it under the request."""
        name = name or self.default_name
        if name is None:
            raise NotReady("no model is loaded")
        served = (
            self.latest.get(name) if version is None else self.served.get(name, {}).get(version)
        )
        if served is None:
            raise self._missing(name, version)
        lease(served)
        return served

    def not_ready_reason(self, name: str) -> str:
        """Why a known model has no ready version: its policy file, or its newest version."""
        if name in self.problems:
            return self.problems[name]
        statuses = self.status.get(name, {})
        if not statuses:
            return "not loaded"
        version = max(statuses, key=version_key)
        return f"version {version} is {_state_text(statuses[version])}"

    def _missing(self, name: str, version: str | None) -> Exception:
        statuses = self.status.get(name, {})
        if version is not None and name in self.latest:
            st = statuses.get(version)
            if st is not None:
                return NotReady(f"model {name} version {quote(version)} is {_state_text(st)}")
            ready = ", ".join(sorted(self.served.get(name, {}), key=version_key))
            return ModelNotFound(
                f"model {quote(name)} has no version {quote(version)}; ready versions: {ready}"
            )
        if name in self.status or name in self.problems:
            what = f"model {name}" + (f" version {quote(version)}" if version else "")
            return NotReady(f"{what} is not loaded: {self.not_ready_reason(name)}")
        if not _NAME.match(name):
            return ModelNotFound(
                f"model name {quote(name)} is not valid (lowercase letters, digits, . _ -)"
            )
        known = ", ".join(sorted(self.latest)) or "none"
        return ModelNotFound(f"unknown model {quote(name)}; loaded models: {known}")

    def index(self, disk: dict[str, ModelDir]) -> list[IndexEntry]:
        """Every version on disk or known to the registry, with its state (Triton's index)."""
        entries = []
        for name in sorted({*disk, *self.status}):
            statuses = self.status.get(name, {})
            on_disk = disk[name].versions if name in disk else {}
            for version in sorted({*on_disk, *statuses}, key=version_key):
                st = statuses.get(version)
                if st is None:
                    entries.append(IndexEntry(name, version, State.UNAVAILABLE, "not loaded"))
                else:
                    entries.append(IndexEntry(name, version, st.state.value, st.reason))
        return entries

    def readiness(self) -> tuple[bool, str]:
        if self.draining:
            return False, "draining: shutting down"
        if not self.ready:
            return False, "loading models"
        if not self.latest:
            return False, "no model loaded"
        if self.settings.require_gpu:
            cpu_only = [n for n, m in self.latest.items() if m.model.provider != CUDA]
            if cpu_only:
                return False, f"require_gpu is set but {cpu_only} run on CPU (CUDA not active)"
        default = self.default_name
        if default not in self.latest:
            why = self.not_ready_reason(default) if default else "no such model folder"
            return False, f"default model {default} is not loaded: {why}"
        missing = [n for n in self.names() if n not in self.latest]
        if missing:
            return True, f"ready; not loaded: {missing}"
        return True, "ready"


def _state_text(status: VersionStatus) -> str:
    if status.failed:
        return f"failed to load: {status.reason}"
    return status.state.value.lower() + (f": {status.reason}" if status.reason else "")
