"""Image grids and PNG encoding with numpy + Pillow only (used by the service and by training)."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    """[N, C, H, W] float in [lo, hi] -> [N, H, W, C] uint8."""
    scaled = (np.clip(images, lo, hi) - lo) * (255.0 / (hi - lo))
    out: np.ndarray = np.rint(scaled).astype(np.uint8).transpose(0, 2, 3, 1)
    return out


def tile(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, H, W, C] uint8 -> one [rows*(H+pad)+pad, cols*(W+pad)+pad, C] grid, row-major."""
    n, h, w, c = images.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    out = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + k * (w + pad) : pad + k * (w + pad) + w,
        ] = images[i]
    return out


def png_bytes(image: np.ndarray, compress_level: int = 1) -> bytes:
    """[H, W, C] uint8 (C = 1 or 3) -> PNG bytes. Level 1: fast, still lossless."""
    mode_img = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    buf = io.BytesIO()
    mode_img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def save_grid(
    path: str, images: np.ndarray, cols: int | None = None, lo: float = -1.0, hi: float = 1.0
) -> None:
    """Write [N, C, H, W] float images as one PNG grid."""
    with open(path, "wb") as f:
        f.write(png_bytes(tile(to_uint8(images, lo, hi), cols), compress_level=6))
