"""What the sections of `make bench` share: the run's context (model, seconds, the server
configurations and the three HTTP workloads), the Section record, and markdown table helpers."""

from __future__ import annotations

import base64
import io
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench import baseline, http_load
from runtime.cores import usable_cores
from runtime.manifest import load_manifest
from runtime.repository import latest_version_dir
from service.testing.server import ROOT
from service.testing.tiny_models import make_tiny_model

Results = dict[str, Any]  # results.json as run() returns it (int batch/concurrency keys)

SAMPLE_N = 64  # images per GET /sample and latents per v2 decode request
SAMPLE_LEVELS = (1, 4, 16)  # concurrency of the decoder workloads (/sample, v2)
ENCODE_LEVELS = (1, 8, 64)  # concurrency of POST /encode


@dataclass(frozen=True)
class Config:
    settings: dict[str, str]  # ALI_* settings (lower case) beyond the model folder and port
    why: str
    before: bool = False  # run the code of bench.baseline.BASE_COMMIT (not in smoke runs)


DEFAULT = "default"
ONE_WORKER = "1_worker"
TUNED_BEFORE = "tuned_before"
CONFIGS = {
    DEFAULT: Config(
        {},
        "out of the box (no ALI_* settings): one worker process per usable core, their model "
        "calls sharing one core token per usable core (service/concurrency.py)",
    ),
    ONE_WORKER: Config(
        {"workers": "1"},
        "`ALI_WORKERS=1`: one process, its model calls still sharing the core tokens; the "
        "comparison behind the default's worker count",
    ),
    TUNED_BEFORE: Config(
        {k: str(v) for k, v in baseline.tuned_settings(usable_cores()).items()},
        f"the code before issues 28-29 (commit `{baseline.BASE_COMMIT}`) with the configuration "
        "tuned by hand then (`ALI_WORKERS` = `ALI_CPU_TOKENS` = cores): what `default` must match",
        before=True,
    ),
}


@dataclass(frozen=True)
class Bench:
    """One run's context: which model, how long each measurement, where the service loads from."""

    models: Path  # the folder of model folders the service loads
    model: str  # the model measured
    seconds: float  # per measurement
    smoke: bool
    quick_train: bool = False

    @classmethod
    def from_args(cls, models: Path, model: str, seconds: float, smoke: bool, quick: bool) -> Bench:
        if smoke:  # a generated tiny model instead of models/
            models = Path(tempfile.mkdtemp())
            make_tiny_model(models, model)
        return cls(models, model, 1.0 if smoke else seconds, smoke, quick)

    @property
    def model_dir(self) -> Path:
        return self.models / self.model

    @property
    def v2_model(self) -> str:
        return f"{self.model}.decoder"

    @contextmanager
    def server(self, config: str, **extra: str) -> Iterator[tuple[str, int]]:
        """The service in `config` (CONFIGS) as its own process; yields (base URL, pid)."""
        settings = {**CONFIGS[config].settings, **extra}
        code = baseline.worktree() if CONFIGS[config].before else ROOT
        with http_load.server(self.models, code, default_model=self.model, **settings) as served:
            yield served

    def each_config(self, **extra: str) -> Iterator[tuple[str, str]]:
        """Each of CONFIGS in turn as its own process (with `extra` settings): (name, base URL).
        Smoke runs skip the baseline's (CI has no use for a second checkout)."""
        for name in (n for n, c in CONFIGS.items() if not (c.before and self.smoke)):
            with self.server(name, **extra) as (url, _):
                yield name, url

    @cached_property
    def _scripts(self) -> Path:
        return Path(tempfile.mkdtemp())

    @cached_property
    def encode_script(self) -> Path:
        """POST /encode with one digit as JSON base64 PNG."""
        body = json.dumps({"images": [base64.b64encode(digit_png()).decode()]})
        return http_load.post_script(self._scripts / "encode.lua", body)

    @cached_property
    def v2_script(self) -> Path:
        body, headers = v2_decode_request(self.model_dir, SAMPLE_N)
        path = self._scripts / "v2_decode.lua"
        return http_load.post_script(path, body, "application/octet-stream", headers)

    def sample(self, url: str, c: int) -> dict[str, float]:
        """GET /sample?n=64 at concurrency c: wrk's figures and images/s."""
        r = http_load.wrk(f"{url}/sample?n={SAMPLE_N}&seed=1", c, self.seconds)
        return r | {"images_per_s": r["requests_per_s"] * SAMPLE_N}

    def v2_decode(self, url: str, c: int) -> dict[str, float]:
        """The same decoder call over the Open Inference Protocol, binary tensors both ways."""
        r = http_load.wrk(f"{url}/v2/models/{self.v2_model}/infer", c, self.seconds, self.v2_script)
        return r | {"images_per_s": r["requests_per_s"] * SAMPLE_N}

    def encode(self, url: str, c: int) -> dict[str, float]:
        return http_load.wrk(f"{url}/encode", c, self.seconds, self.encode_script)


def say(what: str) -> None:
    print(f"{what} ...", file=sys.stderr)


def digit_png() -> bytes:
    """One real-looking 28x28 input (a test digit if the dataset is around, else noise)."""
    npz = ROOT.parent / "shared" / "datasets" / "mnist.npz"
    if npz.is_file():
        a = np.load(npz)["x_test"][0]
    else:
        a = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a, "L").save(buf, format="PNG")
    return buf.getvalue()


def v2_decode_request(model_dir: Path, n: int, seed: int = 1) -> tuple[bytes, dict[str, str]]:
    """POST /v2/models/<model>.decoder/infer with n latents as a binary FP32 tensor (+ INT64
    labels for a conditional model), all outputs asked for as binary: (body, headers)."""
    m = load_manifest(latest_version_dir(model_dir), verify=False)
    z = np.random.default_rng(seed).standard_normal((n, m.latent.dim), dtype=np.float32)
    tensors: list[tuple[str, str, np.ndarray]] = [("z", "FP32", z)]
    if m.conditional:
        tensors.append(("y", "INT64", np.arange(n, dtype=np.int64) % m.num_classes))
    return http_load.v2_binary_body(tensors)


def _no_targets(res: Results) -> dict[str, float]:
    return {}


@dataclass(frozen=True)
class Section:
    """One section of BENCHMARKS.md: what it measures into results.json and how it renders."""

    key: str  # the results.json entry whose presence means the section has figures
    render: Callable[[Results], list[str]]  # its lines, heading first
    # Its entries of results.json, given the run and the results of the sections before it;
    # None: another script measures it (bench/samplers.py, bench/peers/).
    measure: Callable[[Bench, Results], Results] | None = None
    # Its figures in the targets table, from the results (so a re-render recomputes them).
    targets: Callable[[Results], dict[str, float]] = field(default=_no_targets)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


WRK_COLUMNS = ["req/s", "p50 ms", "p99 ms"]


def config_rows(
    results: dict[str, dict[int, dict[str, float]]],
    cells: Callable[[dict[str, float]], list[str]],
    *labels: str,
) -> list[list[str]]:
    """Table rows for {configuration: {concurrency: wrk figures}}, in the order of the results
    (whatever configurations they hold): configuration, concurrency, *labels, WRK_COLUMNS, then
    `cells` of the figures."""
    return [
        [
            name,
            str(c),
            *labels,
            f"{r['requests_per_s']:.1f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            *cells(r),
        ]
        for name, per_c in results.items()
        for c, r in per_c.items()
    ]
