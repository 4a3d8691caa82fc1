"""Load images from files or bytes into upright 8-bit RGB arrays, or say exactly why not.

The format is decided by content, never by file name, and only the formats the README
promises are parsed (JPEG, PNG, GIF, PGM/PPM, BMP, TIFF, WebP). EXIF orientation is applied,
alpha is composited onto white, grey and 16-bit images are converted.

Hostile input is refused before it costs anything: only regular files are opened (a FIFO,
device, socket or directory is named and refused without reading a byte), file sizes and
pixel dimensions are checked from the file system and the header before decoding, and every
failure of every decoder becomes an ``ImageError`` naming the file. Memory stays bounded:

- JPEG is decoded directly at 1/2, 1/4 or 1/8 size (libjpeg's DCT scaling) when it is larger
  than ``MAX_DECODED_SIDE``, so a baseline JPEG is accepted up to ``MAX_PIXELS``;
- every other format (and progressive JPEG, whose decoder keeps every coefficient of the full
  image) is decoded whole first, so it is accepted up to ``MAX_FULL_DECODE_PIXELS`` (WebP:
  ``FULL_DECODE_LIMITS``); an image larger than ``MAX_DECODED_SIDE`` is then converted to RGB
  and downscaled in bands, so no second full-size copy of it is ever made.

``LoadedImage.scale`` maps the pixels of a downscaled image back to the original's
coordinates.
"""

from __future__ import annotations

import ctypes
import errno
import io
import logging
import math
import os
import re
import stat
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import (BmpImagePlugin, GifImagePlugin, Image, JpegImagePlugin, PngImagePlugin,  # noqa: F401 (registers)
                 PpmImagePlugin, TiffImagePlugin, WebPImagePlugin)

from ..errors import ImageError
from ..storage.files import NotRegularFile, open_regular

log = logging.getLogger(__name__)

# Larger images are decoded downscaled to this longest side: a face big enough to recognise
# stays far above the 150-pixel chip, and memory stays bounded.
MAX_DECODED_SIDE = 4096
# Larger images are refused outright (a decompression bomb, or nothing a camera produces).
MAX_PIXELS = 400_000_000
# Formats that cannot be decoded downscaled are refused above this: their decoder holds the
# whole image (up to 4 bytes a pixel). WebP's holds three copies of it, so its limit is lower.
MAX_FULL_DECODE_PIXELS = 100_000_000
FULL_DECODE_LIMITS = {"WEBP": 50_000_000}
# Larger files are refused before a byte is read: no image we accept needs more.
MAX_FILE_BYTES = 500_000_000
# The formats parsed, by Pillow's name for them (PPM covers PBM, PGM and PPM).
FORMATS = ("JPEG", "PNG", "GIF", "PPM", "BMP", "TIFF", "WEBP")
FORMAT_NAMES = {"PPM": "PGM/PPM", "WEBP": "WebP"}
# libjpeg's own ceiling for the buffers of multi-scan (progressive) JPEGs, read from this
# variable when each decoder starts: a progressive JPEG of MAX_FULL_DECODE_PIXELS needs at most
# 800 MB, and a file whose headers lie about that fails instead of exhausting memory.
os.environ.setdefault("JPEGMEM", "1000M")

# Pixels converted per band when turning a decoded image into RGB: bounded work buffers.
_BAND_PIXELS = 1 << 22
_GREY_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "RGBa", "PA")
# EXIF orientation -> how to turn the stored (H, W, 3) pixels upright (as ImageOps.exif_transpose).
_UPRIGHT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1],
            8: lambda a: np.rot90(a)}
# What is said of a path that is no regular file, by its kind.
_NOT_REGULAR = {stat.S_IFDIR: "is a directory, not an image file",
                stat.S_IFIFO: "is a named pipe (FIFO), not an image file",
                stat.S_IFCHR: "is a character device, not an image file",
                stat.S_IFBLK: "is a block device, not an image file",
                stat.S_IFSOCK: "is a socket, not an image file"}
# The exceptions a Pillow plugin raises for "this is not my format" while reading a header.
_NOT_THIS_FORMAT = (SyntaxError, IndexError, TypeError, KeyError, EOFError, struct.error)


def _silence_libtiff() -> None:
    """Stop libtiff printing its complaints about a damaged file on stderr.

    Pillow already turns every libtiff failure into an exception (our ``ImageError``), so the
    library's own lines ("ZIPDecode: Decoding error at scanline 3") would only break the
    command line's one line per problem. libtiff has one process-wide handler for them; the
    copy Pillow loaded is found by its path. Best effort: where that fails nothing changes.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(maxsplit=5)[-1].strip() for line in maps if "libtiff" in line}
    except OSError:
        return
    for path in paths:
        if not path.startswith("/"):
            continue
        try:
            library = ctypes.CDLL(path)
            library.TIFFSetErrorHandler(None)
            library.TIFFSetWarningHandler(None)
        except (OSError, AttributeError) as exc:
            log.debug("cannot silence %s: %s", path, exc)


_silence_libtiff()


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An upright RGB image (H, W, 3, uint8) and how it maps to the file it came from."""

    pixels: np.ndarray
    source: str
    original_size: tuple[int, int]  # (width, height) of the upright original
    scale: float  # original pixels per decoded pixel (1.0 unless downscaled)


def load_image(path: str | bytes | os.PathLike) -> LoadedImage:
    """Read an image file; raise ``ImageError`` naming the file and the problem.

    ``path`` may be bytes (a file name that is not valid UTF-8); ``source`` is then its
    ``os.fsdecode`` form, which the command line prints with the original bytes.
    """
    try:
        name = os.fspath(path)
    except TypeError:
        raise ImageError(repr(path), "not a file name") from None
    source = os.fsdecode(name)
    descriptor = _open_regular_file(name, source)
    with os.fdopen(descriptor, "rb") as file:
        return _decode(file, source)


def decode_image(data: bytes, source: str = "<bytes>") -> LoadedImage:
    """Decode image bytes (any of the supported formats) into a ``LoadedImage``."""
    if not data:
        raise ImageError(source, "the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(source, f"too large for an image file ({_bytes(len(data))}; "
                                 f"the limit is {_bytes(MAX_FILE_BYTES)})")
    return _decode(io.BytesIO(data), source)


def _open_regular_file(name: str | bytes, source: str) -> int:
    """A read-only descriptor of ``name`` once it is known to be a regular file of a sane size."""
    try:
        descriptor, status = open_regular(name)
    except NotRegularFile as exc:
        raise ImageError(source, _NOT_REGULAR.get(stat.S_IFMT(exc.mode), "is not a regular file")) from None
    except OSError as exc:
        raise ImageError(source, _unreadable(name, exc)) from None
    except ValueError:  # an embedded NUL byte
        raise ImageError(source, "not a valid file name") from None
    try:
        _check_file(status, source)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _check_file(status: os.stat_result, source: str) -> None:
    if status.st_size == 0:
        raise ImageError(source, "the file is empty")
    if status.st_size > MAX_FILE_BYTES:
        raise ImageError(source, f"too large for an image file ({_bytes(status.st_size)}; "
                                 f"the limit is {_bytes(MAX_FILE_BYTES)})")


def _unreadable(name: str | bytes, exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "is a broken symbolic link (its target is missing)" if os.path.lexists(name) else "no such file"
    if exc.errno == errno.ENOTDIR:
        return "no such file (part of the path is not a folder)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    return f"cannot be read ({exc.strerror or exc})"


def _bytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def _decode(file, source: str) -> LoadedImage:
    """Identify, check and decode; whatever a decoder raises becomes one ``ImageError``."""
    with warnings.catch_warnings():
        # Pillow's warnings (decompression bomb, corrupt EXIF, ...) are not ours to print:
        # our limits are enforced below and a damaged file is reported as an error.
        warnings.simplefilter("ignore")
        try:
            image = _identify(file, source)
            with image:
                return _convert(image, source)
        except ImageError:
            raise
        except MemoryError:
            raise ImageError(source, "not enough memory to decode it") from None
        except Image.DecompressionBombError as exc:  # Pillow's check while decoding (a GIF frame, ...)
            raise ImageError(source, f"too large ({_first_line(exc)})") from None
        except OSError as exc:
            if exc.errno is not None:  # the disk, not the data
                raise ImageError(source, f"cannot be read ({exc.strerror or exc})") from None
            log.debug("decoding %s failed", source, exc_info=True)
            raise ImageError(source, f"the image data is truncated or corrupt ({_first_line(exc)})") from None
        except Exception as exc:  # any decoder failure is a property of the file
            log.debug("decoding %s failed", source, exc_info=True)
            raise ImageError(source, f"the image data is truncated or corrupt ({_first_line(exc)})") from None


def _identify(file, source: str) -> Image.Image:
    """The lazily opened image (header only) of the first supported format that claims it.

    This is ``Image.open`` restricted to ``FORMATS`` without Pillow's own pixel limit, which
    would refuse the JPEGs between 179 and 400 megapixels that are decoded downscaled; our
    limits are applied by ``_convert`` before any pixel is decoded.
    """
    prefix = file.read(16)
    for name in FORMATS:
        factory, accept = Image.OPEN[name]
        if accept is None or accept(prefix) is True:
            file.seek(0)
            try:
                return factory(file, "")
            except _NOT_THIS_FORMAT as exc:
                raise ImageError(source, f"not a valid {FORMAT_NAMES.get(name, name)} file "
                                         f"({_first_line(exc)})") from None
            except Image.DecompressionBombError as exc:  # Pillow's own check, in some plugins' headers
                count = re.search(r"\((\d+) pixels\)", str(exc))
                raise _too_large(source, name, f"{int(count[1]) / 1e6:.0f} megapixels" if count else "",
                                 int(count[1]) if count else MAX_PIXELS + 1) from None
    raise ImageError(source, "not an image (the content is no known image format)")


def _convert(image: Image.Image, source: str) -> LoadedImage:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(source, f"the image has no pixels ({width}x{height})")
    pixels = width * height
    longest = max(width, height)
    scalable = isinstance(image, JpegImagePlugin.JpegImageFile)  # MPO too
    progressive = bool(image.info.get("progressive") or image.info.get("progression"))
    kind = "PROGRESSIVE" if scalable and progressive else image.format
    if pixels > _pixel_limit(kind):
        raise _too_large(source, kind, f"{width}x{height} = {pixels / 1e6:.0f} megapixels", pixels)
    if scalable and longest > MAX_DECODED_SIDE:
        # JPEG can decode at 1/2, 1/4, 1/8 size directly: far less memory and time.
        image.draft("RGB", (max(1, width * MAX_DECODED_SIDE // longest), max(1, height * MAX_DECODED_SIDE // longest)))
    image.load()
    orientation = _orientation(image)
    array = _upright(_downscaled_rgb(image), orientation)
    # EXIF orientation may swap the axes; the header's size is the original's.
    original_size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    scale = max(original_size) / max(array.shape[:2])  # the longest side rounds least
    return LoadedImage(pixels=array, source=source, original_size=original_size, scale=scale)


def _pixel_limit(kind: str) -> int:
    """The most pixels accepted of a format (Pillow's name, or PROGRESSIVE for progressive JPEG)."""
    if kind == "JPEG":
        return MAX_PIXELS
    return min(MAX_PIXELS, FULL_DECODE_LIMITS.get(kind, MAX_FULL_DECODE_PIXELS))


def _too_large(source: str, kind: str, size: str, pixels: int) -> ImageError:
    if pixels > MAX_PIXELS or kind == "JPEG":
        return ImageError(source, f"too large ({size}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels)")
    what = "a progressive JPEG" if kind == "PROGRESSIVE" else f"a {FORMAT_NAMES.get(kind, kind)} image"
    return ImageError(source, f"too large ({size}; {what} is accepted up to {_pixel_limit(kind) / 1e6:.0f} "
                              f"megapixels, a baseline JPEG up to {MAX_PIXELS / 1e6:.0f})")


def _upright(pixels: np.ndarray, orientation: int | None) -> np.ndarray:
    """The pixels turned as EXIF ``orientation`` says (as ``ImageOps.exif_transpose``), contiguous."""
    turn = _UPRIGHT.get(orientation)
    return pixels if turn is None else np.ascontiguousarray(turn(pixels))


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation, or None; damaged EXIF data only loses the rotation."""
    try:
        value = image.getexif().get(0x0112)
    except Exception:  # EXIF is a side channel: a broken one must not cost the picture
        return None
    return value if isinstance(value, int) else None


def _downscaled_rgb(image: Image.Image) -> np.ndarray:
    """8-bit RGB at most ``MAX_DECODED_SIDE`` on a side, made band by band (BOX filter).

    Each band of output rows is computed from the source rows it covers, so the work buffers
    stay small next to the decoded image however large that is.
    """
    width, height = image.size
    factor = max(width, height) / MAX_DECODED_SIDE
    out_w, out_h = (width, height) if factor <= 1 else (max(1, round(width / factor)), max(1, round(height / factor)))
    peak = _peak(image) if image.mode in _GREY_HIGH_DEPTH else 255.0
    if (out_w, out_h) == (width, height):  # at most MAX_DECODED_SIDE square: converted in one go
        return np.asarray(_rgb(image, peak), dtype=np.uint8)
    sy = height / out_h
    out = np.empty((out_h, out_w, 3), np.uint8)
    rows_per_band = max(1, int(_BAND_PIXELS / width / sy))
    for r0 in range(0, out_h, rows_per_band):
        r1 = min(out_h, r0 + rows_per_band)
        y0, y1 = r0 * sy, min(height, r1 * sy)
        top, bottom = int(y0), min(height, math.ceil(y1))
        band = _rgb(image.crop((0, top, width, bottom)), peak)
        band = band.resize((out_w, r1 - r0), Image.Resampling.BOX, box=(0, y0 - top, width, y1 - top))
        out[r0:r1] = np.asarray(band)
    return out


def _peak(image: Image.Image) -> float:
    """The white level of a high-depth grey image: 1.0 (floats), 255 or 65535."""
    width, height = image.size
    step = max(1, _BAND_PIXELS // width)
    highest = -math.inf
    for top in range(0, height, step):
        values = np.asarray(image.crop((0, top, width, min(height, top + step))), dtype=np.float32)
        finite = values[np.isfinite(values)]
        if finite.size:
            highest = max(highest, float(finite.max()))
    if image.mode == "F" and highest <= 1.0:
        return 1.0
    return 65535.0 if highest > 255 else 255.0


def _rgb(image: Image.Image, peak: float) -> Image.Image:
    """An 8-bit RGB image: high depths scaled down, palette and alpha flattened on white."""
    if image.mode in _GREY_HIGH_DEPTH:
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=peak, neginf=0.0)
        grey = np.clip(values * np.float32(255.0 / peak) + np.float32(0.5), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "La":  # premultiplied grey + alpha: over white is L + (255 - A)
        values = np.asarray(image, dtype=np.int16)
        grey = np.clip(values[..., 0] + 255 - values[..., 1], 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
