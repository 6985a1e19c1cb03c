"""The shipped models through the real app: the bytes of GET /sample stay the same across
refactors of the runtime and the server (issue 28). A retrained model has a new decoder hash:
pin its images here in the same commit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runtime.manifest import load_manifest
from runtime.repository import latest_version_dir
from service.app import create_app
from service.settings import Settings

MODELS = Path(__file__).resolve().parents[2] / "models"

# decoder.onnx sha256 (manifest) -> {query: sha256 of the PNG}
PINNED = {
    "mnist": {
        "n=64&seed=1": "2c575aa95b1e7085f7d3563a65b7d04e6fb1be3d794e65a20479c5cfb64c83b1",
        "n=16&seed=2&sampler=drs%2Bgibbs": "a5df39fb33d3b06cee220d6d2d34474e5e8ef2b31adfc46ce1e93a42492b4ddd",
    },
    "mnist-cond": {
        "n=64&seed=1": "f2ecd33fa5bfd5d7dbcfe23a4a1b86f99a7ae48f2362314000a3a70f2df492b7",
        "n=16&seed=3&label=7": "389b5bc1270f15c4e914c41cedb7b9581bb9968eab362515909626e9ae41d1ec",
    },
}
DECODERS = {
    "mnist": "115630a0d8441112d67eda5be5b6264074966206f9e1cf5459f792818e0e5b7d",
    "mnist-cond": "200723d3a008a843ed674a07a40976bcc23781a42bfcb95b45b0f27da4f3b8cb",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=MODELS, grpc=False))) as c:
        yield c


@pytest.mark.parametrize("model", sorted(PINNED))
def test_shipped_sample_bytes_are_pinned(client: TestClient, model: str) -> None:
    decoder = (
        load_manifest(latest_version_dir(MODELS / model), verify=False).files["decoder"].sha256
    )
    assert decoder == DECODERS[model], f"{model} was retrained: pin its /sample hashes anew"
    for query, want in PINNED[model].items():
        r = client.get(f"/sample?model={model}&{query}")
        assert r.status_code == 200, r.text
        assert hashlib.sha256(r.content).hexdigest() == want, query
