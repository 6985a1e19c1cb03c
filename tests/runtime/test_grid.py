"""The hand-written PNG encoder round-trips through an independent decoder (Pillow)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from runtime.grid import png_bytes, tile, to_uint8


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("level", [0, 1, 6])
def test_png_round_trip(channels: int, level: int) -> None:
    img = np.random.default_rng(channels).integers(0, 256, (13, 7, channels), dtype=np.uint8)
    img[:4] = 0  # some runs of zeros, as in digit grids
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(img, level))))
    want = img[:, :, 0] if channels == 1 else img
    np.testing.assert_array_equal(decoded, want)


def test_png_rejects_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((4, 4, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(np.zeros((4, 4, 2), dtype=np.uint8))


def test_grid_layout() -> None:
    images = np.stack([np.full((1, 2, 3), v, np.float32) for v in (-1.0, 0.0, 1.0)])
    grid = tile(to_uint8(images), cols=2, pad=1)  # 2 rows x 2 cols of 2x3 tiles
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1)
    assert grid[1, 1, 0] == 0 and grid[1, 5, 0] == 128 and grid[4, 1, 0] == 255
    assert grid[4, 5, 0] == 0  # the empty fourth cell stays black
