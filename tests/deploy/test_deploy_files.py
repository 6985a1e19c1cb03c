"""Deploy files checked by the tools that read them: hadolint, docker-compose, promtool,
a real Prometheus server scraping the real service, and the Grafana dashboard's queries.

Locally a missing tool skips its test; in CI (CI=true) .ci/run installs them and a missing tool
fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.testing.server import free_port, start_service, stop, wait_http
from service.testing.tiny_models import make_tiny_model

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; .ci/run should install it")
    pytest.skip(f"{name} not installed")


def run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_hadolint_dockerfile_is_clean() -> None:
    proc = run(tool("hadolint"), "--failure-threshold", "info", "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("profile", ["gpu", "cpu", "gpu,grafana"])
def test_compose_config_parses(profile: str) -> None:
    proc = run(tool("docker-compose"), "config", env={"COMPOSE_PROFILES": profile})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "prometheus" in text
    if profile.startswith("gpu"):
        assert "driver: nvidia" in text and "target: gpu" in text
    else:
        assert "target: cpu" in text


def test_compose_gpu_reservation_and_healthcheck() -> None:
    import yaml

    proc = run(tool("docker-compose"), "config")
    cfg = yaml.safe_load(proc.stdout)
    api = cfg["services"]["api"]
    dev = api["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and dev["capabilities"] == ["gpu"]
    assert "readyz" in " ".join(api["healthcheck"]["test"])
    assert api["volumes"][0].endswith(":/models:ro")
    assert "devices" not in cfg["services"]["api-cpu"].get("deploy", {}).get("resources", {}).get(
        "reservations", {}
    )


def test_promtool_check_config() -> None:
    proc = run(tool("promtool"), "check", "config", "deploy/prometheus/prometheus.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- the service and a real Prometheus, on loopback -------------------------------------------


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    models = tmp_path_factory.mktemp("models")
    make_tiny_model(models, "tiny")
    proc, url = start_service(models)
    try:
        yield url
    finally:
        stop(proc)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return bytes(r.read())


def test_promtool_check_metrics(service_url: str) -> None:
    get(f"{service_url}/sample?n=2")
    text = get(f"{service_url}/metrics")
    proc = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_prometheus_scrapes_request_count(service_url: str, tmp_path: Path) -> None:
    prometheus = tool("prometheus")
    target = service_url.removeprefix("http://")
    (tmp_path / "prom.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: ali\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prom.yml'}",
            f"--storage.tsdb.path={tmp_path}/db",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready")
        n = 17
        for i in range(n):
            get(f"{service_url}/sample?n=1&seed={i}&model=tiny")
        query = urllib.parse.quote('sum(ali_requests_total{endpoint="/sample",code="200"})')
        deadline, value = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            body = json.loads(get(f"http://127.0.0.1:{port}/api/v1/query?query={query}"))
            result = body["data"]["result"]
            if result:
                value = float(result[0]["value"][1])
                if value >= n:
                    break
            time.sleep(0.5)
        # Earlier tests in this module made /sample requests too; at least ours are counted,
        # and the total equals what the service itself reports.
        own = re.findall(  # one series per model version
            rb'ali_requests_total\{code="200",endpoint="/sample",[^}]*\} (\S+)',
            get(f"{service_url}/metrics"),
        )
        assert value is not None and value >= n
        assert own and sum(float(v) for v in own) == value
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_grafana_dashboard_queries_name_exported_metrics(service_url: str) -> None:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/ali-service.json").read_text())
    exported = set(re.findall(r"^# TYPE (\w+) ", get(f"{service_url}/metrics").decode(), re.M))
    series = set()
    for name in exported:
        series |= {name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 6
    for expr in exprs:
        for metric in re.findall(r"\b(ali_\w+)", expr):
            assert metric in series, f"{metric} in {expr!r} is not exported"
    titles = " ".join(p["title"] for p in dash["panels"]).lower()
    for needed in ("requests/s", "p99", "batch size", "queue depth", "in flight"):
        assert needed in titles


def test_ci_script_stops_no_process_by_name() -> None:
    """.ci/run must not kill what it did not start (pkill -x prometheus could hit anyone's)."""
    script = (ROOT / ".ci" / "run").read_text()
    for word in ("pkill", "killall", "service prometheus stop", "systemctl stop"):
        assert word not in script, word
    assert "policy-rc.d" in script  # package installs start no daemons
    assert "make test\n" in script  # the README's test command
