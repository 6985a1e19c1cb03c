"""Schemathesis (its CLI) against the running service's own OpenAPI schema.

Checks: no server errors (a 503/504 must be documented), status codes, content types, headers and
bodies conform to the schema. CI uses ALI_FUZZ_EXAMPLES per operation (default 40); RELIABILITY.md
records a run with >= 1,000 generated cases.

The v2 (Open Inference Protocol) routes are in the same schema. Their model name is a path
parameter that random strings would almost never hit, so a schemathesis config draws it (and the
version) mostly from the real names: the bodies then reach the tensor decoding.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.testing.server import start_service, stop
from service.testing.tiny_models import make_tiny_model

EXAMPLES = int(os.environ.get("ALI_FUZZ_EXAMPLES", "40"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def schemathesis_cli() -> str:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
        "schemathesis"
    )
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("schemathesis is not installed (dev extra)")
        pytest.skip("schemathesis not installed")
    return exe


# Schemathesis config for the /v2/models/ routes: real model and version names in 80 % of the draws;
# the two infer routes get a fixed real model (random names only ever reach the 404), so their
# generated bodies reach the tensor checks of a 3-input graph and of the decoder.
V2_NAMES = [
    f"{m}.{n}" for m in ("tiny", "tiny-cond") for n in ("encoder", "decoder", "discriminator")
]
FUZZ_CONFIG = f"""
[dictionaries.v2_names]
values = {V2_NAMES + ["tiny", "nope.decoder"]!r}

[dictionaries.v2_versions]
values = ["1", "2"]

[dictionaries.v2_inputs]
values = ["x", "z", "y"]

[[operations]]
include-path = "/v2/models/{{name}}/infer"
parameters = {{ "path.name" = "tiny-cond.discriminator", "body.inputs[*].name" = {{ dictionary = "v2_inputs", probability = 0.8 }} }}

[[operations]]
include-path = "/v2/models/{{name}}/versions/{{version}}/infer"
parameters = {{ "path.name" = "tiny.decoder", "path.version" = "1", "body.inputs[*].name" = {{ dictionary = "v2_inputs", probability = 0.8 }} }}

[[operations]]
include-path-regex = "^/v2/models/"
exclude-path-regex = "/infer$"
parameters = {{ "path.name" = {{ dictionary = "v2_names", probability = 0.8 }}, "path.version" = {{ dictionary = "v2_versions", probability = 0.8 }} }}
"""


def run_fuzz(model_root: Path, examples: int, report: Path) -> subprocess.CompletedProcess[str]:
    config = report.parent / "schemathesis.toml"
    config.write_text(FUZZ_CONFIG)
    proc, url = start_service(model_root, default_model="tiny", max_samples=32, max_images=8)
    try:
        return subprocess.run(
            [
                schemathesis_cli(),
                "--config-file",
                str(config),
                "run",
                f"{url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(examples),
                "--seed",
                "1",
                "--phases",
                "examples,coverage,fuzzing",
                "--report",
                "junit",
                "--report-junit-path",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        stop(proc)


def test_fuzz_api_against_its_schema(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    make_tiny_model(tmp_path, "tiny-cond", conditional=True, seed=1)
    result = run_fuzz(tmp_path, EXAMPLES, tmp_path / "junit.xml")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    cases = re.search(r"(\d+) generated", out)
    assert cases and int(cases.group(1)) >= 100, out[-3000:]
    tested = (tmp_path / "junit.xml").read_text()
    for op in ("POST /v2/models/{name}/infer", "GET /v2/models/{name}/config", "GET /v2"):
        assert f'name="{op}"' in tested, op
