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
        "n=64&seed=1": "51deab78811dbf9d002566f5493e72da3be153659e56ab66c32c5f05a47d3845",
        "n=16&seed=3&label=7": "44a8220ff181913396e6e44f1caea485e80c3d6f716cb49a79a9bd4c30276a40",
    },
}
DECODERS = {
    "mnist": "115630a0d8441112d67eda5be5b6264074966206f9e1cf5459f792818e0e5b7d",
    "mnist-cond": "decc3469143ac55df995fde1f4f1a15626ffdbab03c1e42a874b6396a03fd0ef",
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
