"""Load images from files or bytes into upright 8-bit RGB arrays, or say exactly why not.

The format is decided by content, never by file name. EXIF orientation is applied, alpha is
composited onto white, grey and 16-bit images are converted. Very large images are decoded
downscaled (so a 12000x12000 photo costs little memory) and ``LoadedImage.scale`` maps their
pixels back to the original's coordinates.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

# Larger images are decoded downscaled to this longest side: a face big enough to recognise
# stays far above the 150-pixel chip, and memory stays bounded.
MAX_DECODED_SIDE = 4096
# Larger images are refused outright (a decompression bomb, or nothing a camera produces).
MAX_PIXELS = 400_000_000


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An upright RGB image (H, W, 3, uint8) and how it maps to the file it came from."""

    pixels: np.ndarray
    source: str
    original_size: tuple[int, int]  # (width, height) of the upright original
    scale: float  # original pixels per decoded pixel (1.0 unless downscaled)


def load_image(path: str | Path) -> LoadedImage:
    """Read an image file; raise ``ImageError`` naming the file and the problem."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageError(source, "no such file") from None
    except IsADirectoryError:
        raise ImageError(source, "is a directory, not an image file") from None
    except PermissionError:
        raise ImageError(source, "cannot be read (permission denied)") from None
    except OSError as exc:
        raise ImageError(source, f"cannot be read ({exc.strerror or exc})") from None
    return decode_image(data, source)


def decode_image(data: bytes, source: str = "<bytes>") -> LoadedImage:
    """Decode image bytes (any format Pillow reads) into a ``LoadedImage``."""
    if not data:
        raise ImageError(source, "the file is empty")
    with warnings.catch_warnings():
        # We enforce our own pixel limit below; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError(source, "not an image (the content is no known image format)") from None
        except Image.DecompressionBombError:
            raise ImageError(source, "too large to open (decompression-bomb limit)") from None
        return _to_rgb(image, source)


def _to_rgb(image: Image.Image, source: str) -> LoadedImage:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            source,
            f"too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:.0f})",
        )
    longest = max(width, height)
    if longest > MAX_DECODED_SIDE and image.format == "JPEG":
        # JPEG can decode at 1/2, 1/4, 1/8 size directly: far less memory and time.
        target = (width * MAX_DECODED_SIDE // longest, height * MAX_DECODED_SIDE // longest)
        image.draft("RGB", target)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(source, f"the image data is truncated or corrupt ({exc})") from None
    # EXIF orientation may swap the axes; the header's size is the original's.
    original_size = (height, width) if upright.size != image.size else (width, height)
    rgb = _composite_rgb(upright)
    if max(rgb.size) > MAX_DECODED_SIDE:
        rgb.thumbnail((MAX_DECODED_SIDE, MAX_DECODED_SIDE), Image.Resampling.BOX)
    pixels = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    scale = original_size[0] / pixels.shape[1]
    return LoadedImage(pixels=pixels, source=source, original_size=original_size, scale=scale)


def _composite_rgb(image: Image.Image) -> Image.Image:
    """Return an 8-bit RGB image: 16-bit scaled down, palette and alpha flattened on white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
