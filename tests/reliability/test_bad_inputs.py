"""A corpus of hostile and odd uploads, generated at test time. Broken input gets a 4xx JSON error
that names the problem; odd-but-valid images are converted as documented; after each, a good
request still succeeds."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.testing.tiny_models import make_tiny_model
from tests.service.conftest import make_settings, noise_png


def _save(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_bomb(side: int = 20000) -> bytes:
    """A valid 20000x20000 greyscale PNG of zeros (~0.4 MB compressed, 400 MB decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [Image.new("L", (16, 16), v) for v in (0, 128, 255)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def exif_rotated_jpeg() -> tuple[bytes, bytes]:
    """(a JPEG stored sideways with EXIF orientation 6, the same picture stored upright)."""
    upright = Image.new("L", (32, 32), 0)
    upright.paste(255, (0, 0, 32, 8))  # white bar on top
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera would store
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    return _save(stored, "JPEG", exif=exif, quality=100), _save(upright, "JPEG", quality=100)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("models")
    make_tiny_model(root, "tiny", size=16)
    settings = make_settings(root, max_body_bytes=8 * 1024 * 1024)
    with TestClient(create_app(settings)) as c:
        yield c


def upload(client: TestClient, data: bytes, name: str = "x.png") -> object:
    return client.post("/encode", files={"images": (name, data, "application/octet-stream")})


def assert_still_serving(client: TestClient) -> None:
    assert upload(client, noise_png(0, 16)).status_code == 200  # type: ignore[attr-defined]


GOOD = noise_png(1, 16)

BROKEN = [
    ("truncated png", lambda: GOOD[: len(GOOD) // 2], 400, "could not be decoded"),
    ("jpeg broken header", lambda: b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20, 400, "image"),
    ("text as image", lambda: b"hello, I am not an image", 400, "not a decodable image"),
    ("empty file", lambda: b"", 400, "empty"),
    ("decompression bomb", png_bomb, 413, "pixels"),
]


@pytest.mark.parametrize(("name", "make", "status", "needle"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_uploads_get_a_4xx_that_names_the_problem(
    client: TestClient, name: str, make, status: int, needle: str
) -> None:
    r = upload(client, make())
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
    assert_still_serving(client)


ODD_BUT_VALID = [
    ("1x1 image", lambda: _save(Image.new("L", (1, 1), 200), "PNG")),
    ("animated gif (first frame)", animated_gif),
    ("cmyk jpeg", lambda: _save(Image.new("CMYK", (20, 20), (0, 50, 100, 0)), "JPEG")),
    ("16-bit png", lambda: _save(Image.fromarray(np.full((20, 20), 40000, np.uint16)), "PNG")),
    ("rgba png", lambda: _save(Image.new("RGBA", (20, 30), (255, 0, 0, 128)), "PNG")),
    ("palette png", lambda: _save(Image.new("P", (20, 20), 3), "PNG")),
]


@pytest.mark.parametrize(("name", "make"), ODD_BUT_VALID, ids=[o[0] for o in ODD_BUT_VALID])
def test_odd_but_valid_images_are_converted(client: TestClient, name: str, make) -> None:
    r = upload(client, make())
    assert r.status_code == 200, r.text
    assert np.isfinite(r.json()["mu"]).all()
    assert_still_serving(client)


def test_exif_orientation_is_applied(client: TestClient) -> None:
    rotated, upright = exif_rotated_jpeg()
    a, b = upload(client, rotated).json()["mu"], upload(client, upright).json()["mu"]
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_16_bit_png_is_scaled_not_clipped(client: TestClient) -> None:
    grey16 = _save(Image.fromarray(np.full((16, 16), 32896, np.uint16)), "PNG")  # 50 % grey
    grey8 = _save(Image.new("L", (16, 16), 128), "PNG")
    np.testing.assert_allclose(
        upload(client, grey16).json()["mu"], upload(client, grey8).json()["mu"], atol=1e-3
    )


BODIES = [
    ("empty body", {"content": b"", "headers": {"content-type": "application/json"}}, 400),
    (
        "empty multipart",
        {"content": b"", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        422,
    ),
    (
        "50 MB body",
        {"content": b"0" * (50 * 1024 * 1024), "headers": {"content-type": "application/json"}},
        413,
    ),
    ("nested garbage", {"json": {"images": [{"a": [1, {"b": None}]}], "x": [[[[]]]]}}, 422),
    ("images not a list", {"json": {"images": "abc"}}, 422),
    ("no content type", {"content": b"abc"}, 415),
]


@pytest.mark.parametrize(("name", "kwargs", "status"), BODIES, ids=[b[0] for b in BODIES])
def test_bad_bodies(client: TestClient, name: str, kwargs: dict, status: int) -> None:
    r = client.post("/encode", **kwargs)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]
    assert_still_serving(client)


LATENTS = [
    ("nan", b'{"latents": [[NaN, 0, 0, 0]]}', "NaN or infinite"),
    ("inf", b'{"latents": [[Infinity, 0, 0, 0]]}', "NaN or infinite"),
    ("huge", b'{"latents": [[1e999, 0, 0, 0]]}', "NaN or infinite"),
    ("wrong length", b'{"latents": [[0, 0, 0]]}', "length 4"),
    ("ragged", b'{"latents": [[0, 0, 0, 0], [0]]}', "different lengths"),
    ("strings", b'{"latents": [["a", "b", "c", "d"]]}', "latents"),
    ("deep nesting", b'{"latents": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
]


@pytest.mark.parametrize(("name", "body", "needle"), LATENTS, ids=[x[0] for x in LATENTS])
def test_bad_latents(client: TestClient, name: str, body: bytes, needle: str) -> None:
    r = client.post("/decode", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.json()["error"]["message"]
    assert_still_serving(client)


def test_base64_json_upload_of_bomb_is_refused(client: TestClient) -> None:
    r = client.post("/encode", json={"images": [base64.b64encode(png_bomb()).decode()]})
    assert r.status_code == 413


def test_path_traversal_in_model_names(client: TestClient, tmp_path: Path) -> None:
    for name in ("../tiny", "..%2F..%2Fetc", "/etc/passwd", "tiny/../../x"):
        r = client.get("/sample", params={"model": name})
        assert r.status_code == 404, (name, r.text)
    assert client.get("/models/..%2Fetc").status_code == 404
