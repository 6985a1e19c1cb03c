"""Schemathesis (its CLI) against the running service's own OpenAPI schema.

Checks: no server errors (a 503/504 must be documented), status codes, content types, headers and
bodies conform to the schema. CI uses ALI_FUZZ_EXAMPLES per operation (default 40); RELIABILITY.md
records a run with >= 1,000 generated cases.
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


def run_fuzz(model_root: Path, examples: int, report: Path) -> subprocess.CompletedProcess[str]:
    proc, url = start_service(model_root, default_model="tiny", max_samples=32, max_images=8)
    try:
        return subprocess.run(
            [
                schemathesis_cli(),
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
