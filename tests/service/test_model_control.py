"""Model versions and control through the real app: explicit load/unload, poll, policies, the
index, broken versions, and which version answers (X-Model-Version, v2's model_version)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from runtime.manifest import file_ref, load_manifest, write_manifest
from runtime.repository import POLICY_FILE
from service.app import create_app
from service.testing.server import start_service, stop
from service.testing.tiny_models import publish_tiny
from tests.service.conftest import make_settings

Z = [[0.5, -0.25, 1.0, 0.0]]
LOAD, UNLOAD, INDEX = (
    "/v2/repository/models/{}/load",
    "/v2/repository/models/{}/unload",
    "/v2/repository/index",
)


def app(root: Path, mode: str, **kw: object) -> TestClient:
    return TestClient(create_app(make_settings(root, model_control=mode, **kw)))


def answered_by(c: TestClient, path: str = "/sample?n=1&format=json") -> str:
    r = c.get(path)
    assert r.status_code == 200, r.text
    return r.headers["x-model-version"]


def index(c: TestClient) -> dict[str, tuple[str, str]]:
    r = c.post(INDEX)
    assert r.status_code == 200, r.text
    return {f"{e['name']}/{e['version']}": (e["state"], e["reason"]) for e in r.json()}


def decode(c: TestClient, version: str | None = None) -> tuple[np.ndarray, str]:
    path = "/v2/models/tiny.decoder" + (f"/versions/{version}" if version else "") + "/infer"
    body = {"inputs": [{"name": "z", "shape": [1, 4], "datatype": "FP32", "data": Z[0]}]}
    r = c.post(path, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    return np.array(out["outputs"][0]["data"], np.float32), out["model_version"]


def reference(folder: Path) -> np.ndarray:
    sess = ort.InferenceSession(str(folder / "decoder.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(None, {"z": np.array(Z, np.float32)})[0].ravel()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    publish_tiny(tmp_path, "tiny", seed=1)
    return tmp_path


# ---- explicit ----------------------------------------------------------------------------------
def test_explicit_load_swaps_to_the_new_version_and_unload_stops_serving(repo: Path) -> None:
    with app(repo, "explicit") as c:
        assert answered_by(c) == "1"
        v2 = publish_tiny(repo, "tiny", seed=2)
        assert answered_by(c) == "1"  # explicit: nothing changes until asked
        assert index(c)["tiny/2"] == ("UNAVAILABLE", "not loaded")
        assert c.post(LOAD.format("tiny")).status_code == 200
        assert answered_by(c) == "2"
        out, version = decode(c)
        assert version == "2" and np.allclose(out, reference(v2), atol=1e-6)
        idx = index(c)
        assert idx["tiny/2"] == ("READY", "")
        assert idx["tiny/1"][1] == "not selected by the version policy"
        assert c.get("/sample?n=1&version=1").status_code == 503  # retired, named as such
        assert c.post(UNLOAD.format("tiny.decoder")).status_code == 200  # a v2 name is its model
        r = c.get("/sample?n=1")
        assert r.status_code == 503 and "unloaded" in r.json()["error"]["message"]
        assert c.get("/readyz").status_code == 503  # the default model is gone
        assert c.post(LOAD.format("tiny"), json={"parameters": {}}).status_code == 200
        assert answered_by(c) == "2" and c.get("/readyz").status_code == 200
        assert (
            'ali_model_state{model="tiny",state="READY",version="2"} 1.0' in c.get("/metrics").text
        )


def test_explicit_load_errors_are_400s_with_the_reason(repo: Path) -> None:
    with app(repo, "explicit") as c:
        r = c.post(LOAD.format("nope"))
        assert r.status_code == 400 and "no model 'nope'" in r.json()["error"]
        r = c.post(LOAD.format("tiny"), json={"parameters": {"config": "{}"}})
        assert r.status_code == 400 and "not supported" in r.json()["error"]
        r = c.post(LOAD.format("tiny"), content=b"{not json")
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
        assert c.post(INDEX, json={"ready": "yes"}).status_code == 400


def test_broken_versions_never_take_traffic_and_the_index_says_why(repo: Path) -> None:
    with app(repo, "explicit") as c:
        # v2: a truncated ONNX file (its manifest's size and hash no longer match)
        v2 = publish_tiny(repo, "tiny", seed=2)
        data = (v2 / "decoder.onnx").read_bytes()
        (v2 / "decoder.onnx").write_bytes(data[: len(data) // 2])
        r = c.post(LOAD.format("tiny"))
        assert r.status_code == 400 and "truncated" in r.json()["error"]
        assert answered_by(c) == "1"
        state, reason = index(c)["tiny/2"]
        assert state == "UNAVAILABLE" and "truncated" in reason
        # v3: a manifest that names another model
        v3 = publish_tiny(repo, "tiny", seed=3)
        m = json.loads((v3 / "manifest.json").read_text())
        (v3 / "manifest.json").write_text(json.dumps(m | {"name": "other"}))
        assert c.post(LOAD.format("tiny")).status_code == 400
        assert "differs from folder" in index(c)["tiny/3"][1]
        assert answered_by(c) == "1"
        # v4: hashes that match a file onnxruntime cannot read
        v4 = publish_tiny(repo, "tiny", seed=4)
        (v4 / "decoder.onnx").write_bytes(b"not an onnx graph")
        manifest = load_manifest(v4, verify=False)
        files = manifest.files | {"decoder": file_ref(v4 / "decoder.onnx")}
        write_manifest(manifest.model_copy(update={"files": files}), v4)
        assert c.post(LOAD.format("tiny")).status_code == 400
        assert index(c)["tiny/4"][0] == "UNAVAILABLE" and answered_by(c) == "1"
        # v5: good again
        publish_tiny(repo, "tiny", seed=5)
        assert c.post(LOAD.format("tiny")).status_code == 200
        assert answered_by(c) == "5"


# ---- versions and policies ---------------------------------------------------------------------
def test_every_selected_version_is_reachable(repo: Path) -> None:
    v1 = repo / "tiny" / "1"
    v2 = publish_tiny(repo, "tiny", seed=2)
    (repo / "tiny" / POLICY_FILE).write_text('{"all": {}}')
    with app(repo, "none") as c:
        for version, folder in (("1", v1), ("2", v2)):
            out, answered = decode(c, version)
            assert answered == version and np.allclose(out, reference(folder), atol=1e-6)
            assert answered_by(c, f"/sample?n=1&version={version}") == version
        assert decode(c)[1] == "2"  # no version: the newest
        assert c.get("/v2/models/tiny.decoder").json()["versions"] == ["2", "1"]
        assert c.get("/models/tiny").json()["versions"] == ["2", "1"]
        r = c.get("/sample?n=1&version=9")
        assert r.status_code == 404 and "ready versions: 1, 2" in r.json()["error"]["message"]
        r = c.get("/v2/models/tiny.decoder/versions/9")
        assert r.status_code == 404 and "no version" in r.json()["error"]
        # none: the repository API answers the index, refuses changes
        assert {k: s for k, (s, _) in index(c).items()} == {"tiny/1": "READY", "tiny/2": "READY"}
        r = c.post(LOAD.format("tiny"))
        assert r.status_code == 400 and "ALI_MODEL_CONTROL=explicit" in r.json()["error"]
        assert c.post(INDEX, json={"ready": True}).status_code == 200


def test_the_server_wide_policy_and_a_bad_policy_file(repo: Path) -> None:
    publish_tiny(repo, "tiny", seed=2)
    with app(repo, "none", version_policy={"specific": {"versions": [1]}}) as c:
        assert answered_by(c) == "1"
    (repo / "tiny" / POLICY_FILE).write_text('{"latest": {"num_versions": -1}}')
    with app(repo, "none") as c:
        r = c.get("/sample?n=1")
        assert r.status_code == 503 and POLICY_FILE in r.json()["error"]["message"]


# ---- poll --------------------------------------------------------------------------------------
def wait_for(check, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_poll_picks_up_new_changed_and_removed_versions(repo: Path) -> None:
    with app(repo, "poll", repository_poll_s=0.1) as c:
        assert answered_by(c) == "1"
        v2 = publish_tiny(repo, "tiny", seed=2)
        wait_for(lambda: answered_by(c) == "2")
        # A version changed in place reloads (here: v2's files replaced by v1's).
        for name in ("encoder.onnx", "decoder.onnx", "discriminator.onnx", "manifest.json"):
            shutil.copy(repo / "tiny" / "1" / name, v2 / name)
        manifest = load_manifest(v2, verify=False)
        write_manifest(manifest.model_copy(update={"version": "2"}), v2)
        wait_for(lambda: np.allclose(decode(c)[0], reference(repo / "tiny" / "1"), atol=1e-6))
        shutil.rmtree(repo / "tiny" / "2")
        # Removed: v1 is the newest again, but latest-1 serves it only once it is loaded.
        wait_for(lambda: answered_by(c) == "1")
        shutil.rmtree(repo / "tiny")
        wait_for(lambda: c.get("/sample?n=1").status_code == 503)
        assert "removed from the repository" in c.get("/models/tiny").json()["error"]


# ---- tritonclient ------------------------------------------------------------------------------
@pytest.fixture()
def server(repo: Path) -> Iterator[str]:
    proc, url = start_service(repo, model_control="explicit", workers=1, default_model="tiny")
    try:
        yield url
    finally:
        stop(proc)


def test_tritonclient_repository_calls(server: str, repo: Path) -> None:
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(server.removeprefix("http://"))
    assert client.get_model_repository_index() == [
        {"name": "tiny", "version": "1", "state": "READY", "reason": ""}
    ]
    publish_tiny(repo, "tiny", seed=2)
    client.load_model("tiny")
    assert client.is_model_ready("tiny.decoder", "2")
    assert not client.is_model_ready("tiny.decoder", "1")
    client.unload_model("tiny")
    assert not client.is_model_ready("tiny.decoder")
    with pytest.raises(InferenceServerException, match="no model 'missing'"):
        client.load_model("missing")
    client.load_model("tiny.decoder")
    assert client.is_model_ready("tiny.decoder")
    states = {(e["version"], e["state"]) for e in client.get_model_repository_index()}
    assert states == {("1", "UNAVAILABLE"), ("2", "READY")}
