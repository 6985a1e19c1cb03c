from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.settings import Settings
from service.testing.tiny_models import make_tiny_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny", conditional=False)
    make_tiny_model(root, "tiny-cond", conditional=True, seed=1)
    return root


def make_settings(model_dir: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "model_dir": model_dir,
        "default_model": "tiny",
        "max_wait_ms": 5.0,
        "grpc": False,  # tests/service/test_grpc.py turns it on, on a free port
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture()
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(model_dir))) as c:
        yield c


def png(
    size: tuple[int, int] = (8, 8), mode: str = "L", value: int = 128, fmt: str = "PNG"
) -> bytes:
    im = Image.new(mode, size, value if mode in ("L", "I;16") else (value,) * len(mode))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def noise_png(seed: int, size: int = 8) -> bytes:
    a = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a, "L").save(buf, format="PNG")
    return buf.getvalue()
