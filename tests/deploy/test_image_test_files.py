"""The files behind `make image-test` (deploy/image-test.sh), checked without podman: the podman
config the sandbox needs, the wiring into the Makefile and CI, the compose override, and the
readers the script uses on HTTP bodies. The image test itself runs in CI (.ci/run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ROOT / "deploy/podman"
SCRIPT = ROOT / "deploy/image-test.sh"


def test_containers_conf_drops_rlimits_and_says_why() -> None:
    text = (PODMAN / "containers.conf").read_text()
    if sys.version_info >= (3, 11):
        import tomllib

        conf = tomllib.loads(text)
        assert conf["containers"]["default_ulimits"] == []
        assert conf["engine"]["runtime"] == "runc"
        assert conf["network"]["network_backend"] == "netavark"
    assert re.search(r"^default_ulimits = \[\]$", text, re.M)
    comments = " ".join(line for line in text.splitlines() if line.startswith("#"))
    assert "rlimit" in comments.lower() and "operation not permitted" in comments


def test_makefile_and_ci_run_the_image_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.PHONY:.*\bimage-test\b", makefile, re.M)
    assert re.search(r"^image-test:.*\n\tbash deploy/image-test\.sh$", makefile, re.M)
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert "make image-test" in ci


def test_image_test_script_is_strict_and_uses_the_repo_config() -> None:
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "CONTAINERS_CONF=$ROOT/deploy/podman/containers.conf" in text
    assert "--format docker" in text  # OCI format would drop the HEALTHCHECK
    assert "trap cleanup EXIT" in text
    # Only what the run created is removed: no broad kills or prunes.
    assert not re.search(r"pkill|killall|prune|rm -f \$\(podman ps", text)
    for script in (SCRIPT, PODMAN / "build-base.sh"):
        assert os.access(script, os.X_OK), f"{script} is not executable"
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_compose_override_only_swaps_images_of_existing_services() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    override = yaml.safe_load((PODMAN / "compose.override.yml").read_text())
    assert set(override) == {"services"}
    for name, service in override["services"].items():
        assert name in compose["services"]
        assert set(service) == {"image"} and service["image"].startswith("localhost/")
    assert compose["services"]["api-cpu"]["profiles"] == ["cpu"]


def test_prometheus_containerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if not hadolint:
        if os.environ.get("CI"):
            pytest.fail("hadolint is not installed (dev extra)")
        pytest.skip("hadolint not installed")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(PODMAN / "prometheus.Containerfile")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- deploy/podman/checks.py: the readers image-test.sh applies to HTTP bodies ---------------


def check(tmp_path: Path, name: str, body: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "body"
    path.write_bytes(body)
    return subprocess.run(
        [sys.executable, str(PODMAN / "checks.py"), name, str(path), *args],
        capture_output=True,
        text=True,
    )


def tiny_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    raw = b"".join(b"\0" + b"\0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_checks_png(tmp_path: Path) -> None:
    proc = check(tmp_path, "png", tiny_png(3, 2))
    assert proc.returncode == 0 and proc.stdout.startswith("3x2 px")
    assert check(tmp_path, "png", b'{"error": "x"}').returncode != 0


def test_checks_encode(tmp_path: Path) -> None:
    good = json.dumps({"mu": [[0.5] * 4], "log_sigma": [[-1.0] * 4]}).encode()
    assert check(tmp_path, "encode", good, "4").returncode == 0
    assert check(tmp_path, "encode", good, "256").returncode != 0
    nan = json.dumps({"mu": [[float("nan")] * 4], "log_sigma": [[0.0] * 4]}).encode()
    assert check(tmp_path, "encode", nan, "4").returncode != 0


def test_checks_cpu_providers(tmp_path: Path) -> None:
    def models(providers: list[str]) -> bytes:
        nets = {"encoder": providers, "decoder": providers}
        return json.dumps({"models": [{"name": "m", "providers": nets}]}).encode()

    proc = check(tmp_path, "cpu-providers", models(["CPUExecutionProvider"]))
    assert proc.returncode == 0 and "m/decoder: CPUExecutionProvider" in proc.stdout
    cuda = models(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert check(tmp_path, "cpu-providers", cuda).returncode != 0
    assert check(tmp_path, "cpu-providers", b'{"models": []}').returncode != 0


def test_checks_prometheus_bodies(tmp_path: Path) -> None:
    target = {
        "discoveredLabels": {"__meta_dns_name": "api"},
        "labels": {"instance": "10.89.0.3:8000"},
        "health": "up",
    }
    targets = json.dumps({"data": {"activeTargets": [target]}}).encode()
    assert check(tmp_path, "targets", targets).stdout.strip() == "api->10.89.0.3:8000:up"
    result = {"data": {"result": [{"metric": {}, "value": [1.0, "10"]}]}}
    assert check(tmp_path, "value", json.dumps(result).encode()).stdout.strip() == "10"
    empty = json.dumps({"data": {"result": []}}).encode()
    assert check(tmp_path, "value", empty).stdout.strip() == ""
