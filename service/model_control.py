"""Model control: which versions the registry serves, and when that changes (Triton's modes).

    none      load what the repository holds at start-up; no changes until a restart
    poll      the same, then rescan the repository every ALI_REPOSITORY_POLL_S: new versions
              go live, changed ones reload, removed ones unload
    explicit  load what it holds at start-up; then only the repository API changes it
              (POST /v2/repository/models/{name}/load and .../unload, service/routers/repository.py)

With several workers (service/workers.py) each has its own registry. In explicit mode the
wanted state is a file in a folder they share (ALI_CONTROL_DIR, made by the supervisor): the
worker that takes a load or unload call writes it, applies it, and answers once every live worker
reports that generation applied; the others watch the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from runtime.manifest import NETWORKS
from runtime.repository import LATEST_ONE, ModelDir, scan
from service.errors import BadRequest, quote
from service.registry import IndexEntry, ModelRegistry, State
from service.settings import Settings

log = logging.getLogger(__name__)

CONTROL_FILE = "control.json"
WATCH_S = 0.1  # how often explicit-mode workers look at the shared control file
PEER_TIMEOUT_S = 120.0  # how long a load call waits for the other workers to apply it
# Triton's load parameters that carry a model configuration or files: not taken here.
UNSUPPORTED_LOAD_PARAMETERS = ("config", "file:")


class ModelControl:
    """Mode `none`: the repository as it is at start-up. The other modes extend it."""

    mode: ClassVar[str] = "none"

    def __init__(self, settings: Settings, registry: ModelRegistry) -> None:
        self.settings, self.registry = settings, registry
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def for_settings(settings: Settings, registry: ModelRegistry) -> ModelControl:
        modes = {c.mode: c for c in (ModelControl, PollControl, ExplicitControl)}
        return modes[settings.model_control](settings, registry)

    def scan(self) -> dict[str, ModelDir]:
        root = self.settings.model_dir
        if not root.is_dir():
            log.error("model directory %s does not exist", root)
        return scan(root, self.settings.version_policy or LATEST_ONE)

    async def start(self) -> None:
        await self.registry.reconcile(self.scan())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def index(self, ready_only: bool = False) -> list[IndexEntry]:
        entries = self.registry.index(self.scan())
        return [e for e in entries if e.state == "READY"] if ready_only else entries

    async def load(self, name: str, parameters: Iterable[str] = ()) -> None:
        """Load `name`'s selected versions; `parameters`: the names of the call's load
        parameters (REST or gRPC), of which those carrying a configuration or files are refused."""
        refused = [k for k in parameters if k.startswith(UNSUPPORTED_LOAD_PARAMETERS)]
        if refused:
            raise BadRequest(
                f"load parameters {refused} are not supported: put the version in the repository"
            )
        await self._load(name)

    async def _load(self, name: str) -> None:
        raise BadRequest(f"model control is {self.mode!r}: set ALI_MODEL_CONTROL=explicit to load")

    async def unload(self, name: str) -> None:
        raise BadRequest(
            f"model control is {self.mode!r}: set ALI_MODEL_CONTROL=explicit to unload"
        )

    def _background(self, loop: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(loop(), name=f"model-{self.mode}")


class PollControl(ModelControl):
    mode = "poll"

    async def start(self) -> None:
        await super().start()
        self._background(self._poll)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.repository_poll_s)
            try:
                await self.poll_once()
            except Exception:  # a bad scan must not end polling for good
                log.exception("repository poll failed")

    async def poll_once(self) -> None:
        models = self.scan()
        await self.registry.reconcile(models)
        gone = [n for n in self.registry.served if n not in models]
        if gone:
            await self.registry.unload(gone, "removed from the repository")


class ExplicitControl(ModelControl):
    mode = "explicit"

    def __init__(self, settings: Settings, registry: ModelRegistry) -> None:
        super().__init__(settings, registry)
        self._own_dir = settings.control_dir is None  # one process: a folder of its own
        self.dir = settings.control_dir or Path(tempfile.mkdtemp(prefix="ali-control-"))
        self._generation = -1  # the last generation of the control file this worker applied
        self._apply_lock = asyncio.Lock()

    # ---- the shared file: {"generation": n, "models": {name: wanted}, "changed": name} ------
    def _read(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.dir / CONTROL_FILE).read_bytes())
            return data
        except FileNotFoundError:
            return None

    def _write(self, update: dict[str, bool] | None) -> dict[str, Any]:
        """Under the folder's lock: the first worker writes what it sees (every model on disk
        wanted); later calls set `update` and bump the generation."""
        with (self.dir / "control.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            if state is not None and update is None:
                return state
            if state is None:
                state = {"generation": 0, "models": dict.fromkeys(self.scan(), True)}
            if update is not None:
                state["generation"] += 1
                state["models"].update(update)
                state["changed"] = next(iter(update))
            tmp = self.dir / f".{CONTROL_FILE}.{os.getpid()}"
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.dir / CONTROL_FILE)
            return state

    def _report(self) -> None:
        """This worker's applied generation, for the worker that waits on it."""
        path = self.dir / f"worker-{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"generation": self._generation}))
        os.replace(tmp, path)

    # ---- applying it ---------------------------------------------------------------------
    async def start(self) -> None:
        await self._apply(self._write(None))
        self._background(self._watch)

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / f"worker-{os.getpid()}.json").unlink()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def _apply(self, state: dict[str, Any]) -> None:
        async with self._apply_lock:
            if state["generation"] <= self._generation:
                return
            self._generation = state["generation"]
            wanted = {n for n, on in state["models"].items() if on}
            models = {n: m for n, m in self.scan().items() if n in wanted}
            changed = state.get("changed")
            await self.registry.reconcile({n: m for n, m in models.items() if n != changed})
            if changed in models:
                await self.registry.reconcile({changed: models[changed]}, retry_failed=True)
            loaded = [n for n in self.registry.status if n not in wanted and self._holds(n)]
            if loaded:
                await self.registry.unload(loaded)
            self._report()

    def _holds(self, name: str) -> bool:
        live = (State.READY, State.LOADING)
        return any(s.state in live for s in self.registry.status.get(name, {}).values())

    async def _watch(self) -> None:
        seen = None
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                st = (self.dir / CONTROL_FILE).stat()
                if (st.st_mtime_ns, st.st_size, st.st_ino) == seen:
                    continue
                seen = (st.st_mtime_ns, st.st_size, st.st_ino)
                state = self._read()
                if state is not None:
                    await self._apply(state)
            except Exception:
                log.exception("applying the model control file failed")

    # ---- the repository API ----------------------------------------------------------------
    def _folder_name(self, name: str, on_disk: dict[str, ModelDir]) -> str:
        """A model folder's name; a v2 name (`mnist.decoder`) means its model's folder."""
        if name in on_disk or name in self.registry.status:
            return name
        model, _, network = name.rpartition(".")
        if network in NETWORKS and (model in on_disk or model in self.registry.status):
            return model
        known = ", ".join(sorted(on_disk)) or "none"
        raise BadRequest(
            f"no model {quote(name)} in the repository {self.settings.model_dir}; it holds: {known}"
        )

    async def _load(self, name: str) -> None:
        on_disk = self.scan()
        name = self._folder_name(name, on_disk)
        if name not in on_disk:
            raise BadRequest(f"model {quote(name)} has no version in the repository")
        state = await asyncio.to_thread(self._write, {name: True})
        await self._apply(state)
        await self._wait_for_peers(state["generation"])
        selected = {v.version for v in on_disk[name].selected()}
        failed = {
            v: s.reason
            for v, s in self.registry.status.get(name, {}).items()
            if v in selected and s.failed
        }
        if failed or name not in self.registry.latest:
            why = "; ".join(f"version {v}: {r}" for v, r in sorted(failed.items()))
            raise BadRequest(
                f"failed to load {quote(name)}: " + (why or self.registry.not_ready_reason(name))
            )

    async def unload(self, name: str) -> None:
        name = self._folder_name(name, self.scan())
        state = await asyncio.to_thread(self._write, {name: False})
        await self._apply(state)
        await self._wait_for_peers(state["generation"])

    async def _wait_for_peers(self, generation: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PEER_TIMEOUT_S
        while loop.time() < deadline:
            if all(g >= generation for g in self._peer_generations()):
                return
            await asyncio.sleep(WATCH_S)
        log.warning("not every worker applied model control generation %d in time", generation)

    def _peer_generations(self) -> list[int]:
        generations = []
        for path in self.dir.glob("worker-*.json"):
            pid = int(path.stem.removeprefix("worker-"))
            try:
                os.kill(pid, 0)
                generations.append(int(json.loads(path.read_bytes())["generation"]))
            except (ProcessLookupError, FileNotFoundError, ValueError, KeyError):
                continue  # a worker that died (or is writing): not waited for
        return generations
