"""A face chip and a vector as the gallery stores them: a small square PNG, and float32 numbers."""

from __future__ import annotations

import hashlib
import io
import struct

import cv2
import numpy as np

from ..errors import GalleryError, InputError
from .crypto import OVERHEAD

MAX_DIMENSIONS = 4096  # the longest vector a model may have
MAX_CHIP_SIDE = 1024  # a stored chip larger than this is damage, not a face chip
MAX_CHIP_BYTES = 4 << 20  # ... and so is a stored PNG larger than this
MAX_STORED_CHIP = MAX_CHIP_BYTES + OVERHEAD  # ... sealed, in an encrypted gallery
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_chip(chip: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the chip as PNG")
    return png.tobytes()


def png_size(png: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header without decoding it; None if it is not a PNG."""
    if not isinstance(png, (bytes, bytearray, memoryview)) or len(png) < 24:
        return None
    png = bytes(png[:24])
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])


def decode_chip(png: bytes, size: int | None = None, what: str = "a stored chip") -> np.ndarray:
    """A chip's RGB pixels from its PNG, refusing anything that is not a small square colour chip.

    The size is read from the header before decoding, so a damaged or hostile file cannot
    make the decoder allocate a huge image. Decoded with Pillow, which reports a damaged
    file as an exception (libpng through OpenCV also prints to stderr). ``size``: the
    exact side required.
    """
    dims = png_size(png)
    if dims is None:
        raise GalleryError(f"{what} is damaged (not a PNG)")
    width, height = dims
    if width != height or not 1 <= width <= MAX_CHIP_SIDE or (size is not None and width != size):
        wanted = f"{size}x{size}" if size else "a square chip"
        raise GalleryError(f"{what} is damaged ({width}x{height} pixels, not {wanted})")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(bytes(png)), formats=["PNG"]) as image:
            image.load()
            if image.mode.startswith("I"):  # 16-bit grey: keep the high byte, as for 16-bit colour
                grey = (np.asarray(image).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                rgb = np.repeat(grey[:, :, None], 3, axis=2)
            else:
                rgb = np.asarray(image.convert("RGB"))
    except Exception:  # Pillow's many ways of saying "damaged" (OSError, SyntaxError, zlib.error, ...)
        raise GalleryError(f"{what} is damaged (not a readable PNG)") from None
    if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
        raise GalleryError(f"{what} is damaged (not a readable PNG)")
    return np.ascontiguousarray(rgb)


def pixel_digest(chip) -> bytes:
    """A digest of a chip's pixels (RGB array, or PNG bytes): equal chips, equal digests."""
    if isinstance(chip, (bytes, bytearray, memoryview)):
        chip = decode_chip(bytes(chip))
    pixels = np.ascontiguousarray(chip, dtype=np.uint8)
    return hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).digest()


def checked_vector(embedding) -> np.ndarray:
    """A vector as stored (little-endian float32), refused when empty, too long or not finite."""
    vector = np.ascontiguousarray(embedding, dtype="<f4").reshape(-1)
    if not 1 <= len(vector) <= MAX_DIMENSIONS:
        raise InputError(f"a face vector must have 1 to {MAX_DIMENSIONS} numbers, not {len(vector)}")
    if not np.all(np.isfinite(vector)):
        raise InputError("a face vector is not finite (NaN or infinity): nothing was stored")
    return vector
