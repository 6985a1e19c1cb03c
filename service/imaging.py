"""Uploaded images -> model arrays, and model arrays -> PNG.

Conversion of an uploaded image (documented in the README):
1. decode with Pillow (PNG, JPEG, GIF, BMP, WebP, TIFF); the first frame of an animated image;
2. apply the EXIF orientation;
3. flatten transparency onto black (MNIST digits are white on black);
4. convert to the model's channels (L for 1, RGB for 3; 16-bit greyscale is scaled to 8 bits);
5. centre-crop to the model's aspect ratio and resize (Lanczos when shrinking);
6. map 8-bit pixels p into the model's range: x = p * scale + offset (from the manifest).
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.grid import png_bytes, tile, to_uint8
from runtime.manifest import ImageSpec, PixelRange
from service.errors import BadRequest, InvalidInput, PayloadTooLarge

FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
# Pillow keeps one pointer per row and allocates, copies and frees them holding the GIL: a
# 1 x 16,777,216 image costs ~130 ms of GIL per allocation, which stalls the event loop even when
# it is decoded in the CPU pool. No real photo or scan is taller or wider than this.
MAX_SIDE = 16384
ORIENTATION = 0x0112  # the EXIF tag


def open_image(data: bytes, max_pixels: int, label: str = "image") -> Image.Image:
    """Encoded bytes -> a lazily opened image (header read, pixels not decoded yet): cheap, so
    a request's total pixel count is known before any decoding."""
    if not data:
        raise BadRequest(f"{label} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PayloadTooLarge(f"{label}: {e}") from None
    except UnidentifiedImageError:
        raise BadRequest(
            f"{label} is not a decodable image (supported: {', '.join(FORMATS)})"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:  # corrupt header
        raise BadRequest(f"{label} could not be decoded: {e}") from None
    w, h = im.size
    if w * h > max_pixels:
        raise PayloadTooLarge(f"{label} is {w}x{h} = {w * h} pixels; the limit is {max_pixels}")
    if max(w, h) > MAX_SIDE:
        raise PayloadTooLarge(f"{label} is {w}x{h}; the limit is {MAX_SIDE} pixels a side")
    return im


def decode_image(
    im: Image.Image, spec: ImageSpec, pixels: PixelRange, label: str = "image"
) -> np.ndarray:
    """An opened image -> float32 [C, H, W] in the model's pixel range (the decoding work)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.seek(0)
            im.load()
            if im.getexif().get(ORIENTATION, 1) != 1:  # else exif_transpose would only copy
                im = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PayloadTooLarge(f"{label}: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # truncated or corrupt data
        raise BadRequest(f"{label} could not be decoded: {e}") from None
    return _to_model_array(im, spec, pixels)


def _to_model_array(im: Image.Image, spec: ImageSpec, pixels: PixelRange) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a * (255.0 / peak), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        im = Image.alpha_composite(background, rgba)
    mode = "L" if spec.channels == 1 else "RGB"
    if im.mode != mode:  # convert() to the same mode copies
        im = im.convert(mode)
    if im.size != (spec.width, spec.height):
        im = ImageOps.fit(im, (spec.width, spec.height), method=Image.Resampling.LANCZOS)
    a = np.asarray(im, dtype=np.float32)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # [C, H, W]
    return (a * np.float32(pixels.scale) + np.float32(pixels.offset)).astype(np.float32)


def decode_base64(text: str, label: str) -> bytes:
    if "," in text[:100] and text.startswith("data:"):
        text = text.split(",", 1)[1]  # data URL
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{label} is not valid base64") from None


def images_to_pngs(images: np.ndarray, pixels: PixelRange) -> list[bytes]:
    """[N, C, H, W] model range -> N PNG files."""
    u8 = to_uint8(images, pixels.low, pixels.high)
    return [png_bytes(im) for im in u8]


def images_to_grid_png(images: np.ndarray, pixels: PixelRange, cols: int | None = None) -> bytes:
    return png_bytes(tile(to_uint8(images, pixels.low, pixels.high), cols))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_latents(latents: np.ndarray, dim: int, label: str = "latents") -> np.ndarray:
    if latents.ndim != 2 or latents.shape[1] != dim:
        raise InvalidInput(
            f"{label} must be a list of vectors of length {dim}; got shape {list(latents.shape)}"
        )
    if not np.isfinite(latents).all():
        raise InvalidInput(f"{label} contain NaN or infinite values")
    return finite_float32(latents, label)


def finite_float32(values: np.ndarray, label: str) -> np.ndarray:
    """`values` as float32, or 422 naming `label` if any is beyond float32 (±3.4e38) or NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(np.float32)
    if not np.isfinite(out).all():
        i = np.unravel_index(int(np.argmin(np.isfinite(out))), out.shape)
        where = "".join(f"[{k}]" for k in i)
        raise InvalidInput(
            f"{label}{where} is not a finite float32 value (|x| must be under 3.4e38)"
        )
    return out
