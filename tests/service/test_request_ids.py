"""Request ids (service/request_info.py, service/observe.py) and the JSON access log
(service/logs.py): the id a response carries is the id of its log line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.request_info import request_id
from service.testing.server import start_service, stop
from service.testing.tiny_models import make_tiny_model

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_request_id_rules() -> None:
    assert request_id("abc-123", None) == "abc-123"
    # not a plain bounded token: replaced, never echoed into the logs
    for bad in ("a b", "x" * 129, "line\nbreak", 'quote"', ""):
        new = request_id(bad, None)
        assert new != bad and len(new) == 32 and int(new, 16) >= 0
    assert request_id(None, f"00-{TRACE}-00f067aa0ba902b7-01") == TRACE
    assert request_id(None, f"00-{'0' * 32}-00f067aa0ba902b7-01") != "0" * 32
    assert request_id("mine", f"00-{TRACE}-00f067aa0ba902b7-01") == "mine"
    assert request_id(None, None) != request_id(None, None)


@pytest.mark.parametrize(
    "method,url,kwargs",
    [
        ("get", "/sample?n=2", {}),
        ("get", "/sample?n=0", {}),  # 422
        ("get", "/nowhere", {}),  # 404
        ("post", "/v2/models/tiny.decoder/infer", {"content": b"{"}),  # the v2 fast path, 400
        ("get", "/", {}),  # the playground page
        ("get", "/healthz", {}),
    ],
)
def test_every_answer_carries_an_id(client: TestClient, method: str, url: str, kwargs) -> None:
    r = getattr(client, method)(url, **kwargs)
    generated = r.headers["x-request-id"]
    assert len(generated) == 32
    r = getattr(client, method)(url, headers={"x-request-id": "client-7"}, **kwargs)
    assert r.headers["x-request-id"] == "client-7"


def _log_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line: {raw!r}")
    return lines


def test_json_access_log_has_the_id_of_each_answer(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    log = tmp_path / "service.log"
    # max_queue_rows=4: a request for 8 rows is refused with 503 (queue full)
    proc, url = start_service(
        tmp_path, log_path=log, workers=1, log_level="info", log_format="json", max_queue_rows=4
    )
    try:
        answers = {}
        for name, target, want in (
            ("ok", "/sample?n=2&format=json", 200),
            ("bad", "/sample?n=0", 422),
            ("full", "/sample?n=8", 503),
        ):
            r = httpx.get(url + target, headers={"x-request-id": f"req-{name}"})
            assert r.status_code == want, r.text
            assert r.headers["x-request-id"] == f"req-{name}"
            answers[name] = r
        time.sleep(0.5)  # let the log line reach the file
    finally:
        stop(proc)
    lines = _log_lines(log)
    access = {line["request_id"]: line for line in lines if line["logger"] == "ali.access"}
    ok, bad, full = access["req-ok"], access["req-bad"], access["req-full"]
    assert ok["status"] == 200 and ok["route"] == "/sample" and ok["model"] == "tiny"
    assert ok["version"] and ok["batch_ids"] and ok["batch_sizes"] == [2]
    assert ok["queue_wait_ms"] >= 0 and ok["latency_ms"] > 0
    assert ok["bytes_out"] == len(answers["ok"].content) and ok["bytes_in"] == 0
    assert bad["status"] == 422 and bad["batch_ids"] == []
    assert full["status"] == 503 and full["model"] == "tiny"
    # every line is JSON with the fields of the format; nothing but ids and fields
    for line in lines:
        assert {"time", "level", "logger", "request_id", "message"} <= line.keys()


def test_text_access_log_line(tmp_path: Path) -> None:
    make_tiny_model(tmp_path, "tiny")
    log = tmp_path / "service.log"
    proc, url = start_service(tmp_path, log_path=log, workers=1, log_level="info")
    try:
        r = httpx.get(f"{url}/sample?n=3", headers={"x-request-id": "text-1"})
        assert r.status_code == 200
        # a path with an encoded newline must not forge a second log line
        httpx.get(f"{url}/x%0a2026-01-01%20INFO%20forged")
        time.sleep(0.5)
    finally:
        stop(proc)
    text = log.read_text()
    (line,) = [x for x in text.splitlines() if "[text-1]" in x]
    assert '"GET /sample?n=3" 200' in line and "model=tiny@" in line and "(3)" in line
    assert not any(x.startswith("2026-01-01") for x in text.splitlines())
