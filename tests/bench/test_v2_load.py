"""The v2 workload of `make bench`: its request is one the service answers, and the wrk script
carries the binary body byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from bench.http_load import lua_string, post_script
from bench.sections.common import v2_decode_request
from service.app import create_app
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings


def unlua(text: str) -> bytes:
    """Lua's reading of the string literals lua_string writes (\\ddd, \\", \\\\)."""
    return re.sub(
        r'\\(\d{3}|["\\])',
        lambda m: chr(int(m.group(1))) if m.group(1).isdigit() else m.group(1),
        text,
    ).encode("latin-1")


def test_lua_string_round_trips_every_byte(tmp_path: Path) -> None:
    data = bytes(range(256)) + b'9"\\0'
    assert unlua(lua_string(data)) == data
    script = post_script(tmp_path / "s.lua", data, "application/octet-stream", {"A-B": "7"})
    text = script.read_text()
    assert 'wrk.headers["A-B"] = "7"' in text
    body = re.search(r'^wrk.body = "(.*)"$', text, re.M)
    assert body and unlua(body.group(1)) == data


def test_v2_decode_request_is_answered(tmp_path: Path) -> None:
    for name, conditional in (("mnist", False), ("mnist-cond", True)):
        make_tiny_model(tmp_path, name, conditional=conditional)
        body, headers = v2_decode_request(tmp_path / name, 64)
        with TestClient(create_app(make_settings(tmp_path, default_model=name))) as c:
            r = c.post(f"/v2/models/{name}.decoder/infer", content=body, headers=headers)
        assert r.status_code == 200, r.text
        n = int(r.headers["inference-header-content-length"])
        assert np.frombuffer(r.content[n:], "<f4").size == 64 * 8 * 8
