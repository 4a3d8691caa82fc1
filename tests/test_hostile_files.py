"""Hostile input to the image loader: special files, huge files, decompression bombs, damaged
data of every format, non-UTF-8 names. Each either loads as a sane image or is one
``ImageError`` naming the file, fast and with bounded memory; never a hang or a traceback.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.vision import imaging
from core.errors import ImageError
from core.vision.imaging import MAX_DECODED_SIDE, MAX_FILE_BYTES, decode_image, load_image
from core.resources import sample_face

ROOT = Path(__file__).resolve().parents[1]
SPARSE_SIZE = 6 * 1024**3  # a 6 GB file that uses no disk (os.truncate)


def refused(path, reason: str, limit_s: float = 1.0) -> ImageError:
    """Load ``path`` expecting an ImageError whose message names it and contains ``reason``, quickly."""
    start = time.perf_counter()
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert time.perf_counter() - start < limit_s
    message = str(caught.value)
    assert message.startswith(f"{os.fsdecode(path)}: ") and reason in message and "\n" not in message
    return caught.value


# --- files that are not regular files, or too big to be an image ---------------------------------

def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "camera.jpg"
    os.mkfifo(fifo)  # no writer ever comes: opening it for a blocking read would hang forever
    refused(fifo, "is a named pipe (FIFO), not an image file")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_without_reading(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    refused(device, "is a character device, not an image file")


def test_symlink_to_a_device_is_judged_by_its_target(tmp_path):
    link = tmp_path / "photo.jpg"
    link.symlink_to("/dev/zero")
    refused(link, "is a character device, not an image file")


def test_socket_and_directory_and_broken_link(tmp_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(tmp_path / "s.png"))
        refused(tmp_path / "s.png", "is a socket, not an image file")
    finally:
        server.close()
    refused(tmp_path, "is a directory, not an image file")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nothing-here.jpg")
    refused(tmp_path / "gone.jpg", "a broken symbolic link")
    refused(tmp_path / "s.png" / "x.jpg", "no such file")


def test_sparse_huge_file_is_refused_before_reading(tmp_path):
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as file:
        file.write(sample_face().read_bytes())
    os.truncate(huge, SPARSE_SIZE)
    refused(huge, f"too large for an image file (6.4 GB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB)")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    refused(tmp_path / "empty.png", "the file is empty")


def test_a_path_swapped_for_a_fifo_after_the_check_is_still_refused(tmp_path, monkeypatch):
    """stat says "regular file", but by the time it is opened the path is a FIFO: the opened
    descriptor is checked again, and O_NONBLOCK keeps the open itself from blocking."""
    regular = tmp_path / "real.jpg"
    regular.write_bytes(sample_face().read_bytes())
    fifo = tmp_path / "swapped.jpg"
    os.mkfifo(fifo)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(regular) if Path(path) == fifo
                        else real_stat(path, *a, **k))
    refused(fifo, "is a named pipe (FIFO), not an image file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.jpg"
    path.write_bytes(sample_face().read_bytes())
    path.chmod(0)
    refused(path, "cannot be read (permission denied)")


# --- non-UTF-8 names ------------------------------------------------------------------------------

def test_non_utf8_names_load_as_bytes_and_as_str(tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(name, "wb") as file:
        file.write(sample_face().read_bytes())
    by_bytes = load_image(name)
    assert by_bytes.source == os.fsdecode(name) and by_bytes.source.endswith("caf\udce9.jpg")
    assert by_bytes.pixels.shape == (480, 640, 3)
    assert np.array_equal(load_image(os.fsdecode(name)).pixels, by_bytes.pixels)
    refused(os.fsencode(tmp_path) + b"/missing\xff.jpg", "no such file")


# --- every supported format, intact and damaged ---------------------------------------------------

def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def originals(data_dir) -> dict[str, bytes]:
    """Every format and flavour the loader promises, made from a shared photo, small for speed."""
    with Image.open(data_dir / "people" / "barack_obama" / "1.jpg") as photo:
        rgb = photo.convert("RGB")
    rgb.thumbnail((96, 96))
    grey16 = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    palette = rgb.convert("P")
    palette.info["transparency"] = 0
    return {
        "jpeg": _encode(rgb, "JPEG", quality=90),
        "jpeg-progressive": _encode(rgb, "JPEG", progressive=True),
        "jpeg-grey": _encode(rgb.convert("L"), "JPEG"),
        "jpeg-cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "png": _encode(rgb, "PNG"),
        "png-rgba": _encode(rgb.convert("RGBA"), "PNG"),
        "png-16-bit": _encode(grey16, "PNG"),
        "png-palette-transparent": _encode(palette, "PNG", transparency=0),
        "gif": _encode(palette, "GIF"),
        "webp": _encode(rgb, "WEBP", quality=80),
        "webp-lossless-alpha": _encode(rgb.convert("RGBA"), "WEBP", lossless=True),
        "tiff": _encode(rgb, "TIFF"),
        "tiff-deflate": _encode(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-lzw-grey": _encode(rgb.convert("L"), "TIFF", compression="tiff_lzw"),
        "tiff-jpeg": _encode(rgb, "TIFF", compression="jpeg"),
        "tiff-packbits": _encode(rgb, "TIFF", compression="packbits"),
        "tiff-group4": _encode(rgb.convert("1"), "TIFF", compression="group4"),
        "tiff-16-bit": _encode(grey16, "TIFF"),
        "bmp": _encode(rgb, "BMP"),
        "bmp-palette": _encode(palette.convert("P"), "BMP"),
        "pgm": _encode(rgb.convert("L"), "PPM"),
        "pgm-16-bit": _encode(grey16, "PPM"),
        "ppm": _encode(rgb, "PPM"),
    }


def test_every_format_loads_intact(originals):
    for name, data in originals.items():
        image = decode_image(data, name)
        assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3, name
        assert image.pixels.shape[:2] == (96, 96) or max(image.pixels.shape[:2]) == 96, name


def _check_outcome(data: bytes, source: str) -> None:
    """Either a sane image or one ImageError naming the source; anything else fails the test."""
    start = time.perf_counter()
    try:
        image = decode_image(data, source)
    except ImageError as error:
        assert str(error).startswith(f"{source}: ") and "\n" not in str(error)
    else:
        assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 3 and image.pixels.shape[2] == 3
        assert max(image.pixels.shape[:2]) <= MAX_DECODED_SIDE and image.pixels.flags["C_CONTIGUOUS"]
    assert time.perf_counter() - start < 10, f"{source} took {time.perf_counter() - start:.1f} s"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_images_of_every_format_load_or_fail_cleanly(originals, data):
    """Truncated, bit-flipped, overwritten, spliced: every decoder failure is an ImageError."""
    name = data.draw(st.sampled_from(sorted(originals)), label="format")
    damaged = bytearray(originals[name])
    for _ in range(data.draw(st.integers(1, 4), label="damages")):
        size = len(damaged)
        if size < 2:
            break
        where = data.draw(st.integers(0, size - 1), label="offset")
        kind = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "delete", "insert"]), label="kind")
        if kind == "truncate":
            del damaged[where:]
        elif kind == "flip":
            damaged[where] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = data.draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00",
                                               b"\x80\x00\x00\x01"]) | st.binary(min_size=1, max_size=16))
            damaged[where:where + len(chunk)] = chunk
        elif kind == "delete":
            del damaged[where:where + data.draw(st.integers(1, 64))]
        else:
            damaged[where:where] = data.draw(st.binary(min_size=1, max_size=64))
    _check_outcome(bytes(damaged), f"{name}.damaged")


MAGIC = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"GIF87a", b"BM", b"II*\x00", b"MM\x00*",
         b"II+\x00", b"P5\n", b"P6\n", b"P2\n", b"Pf\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\xff\xff\xff\xffWEBPVP8L"]


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=2048),
                 st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGIC), st.binary(max_size=1024))))
def test_random_bytes_behind_any_magic_number(blob):
    _check_outcome(blob, "random")


def test_decoder_libraries_print_nothing_themselves(originals, capfd):
    """libtiff prints its complaints on stderr unless told not to: the one line is ours alone."""
    for name in ("tiff-group4", "tiff-deflate", "tiff-lzw-grey", "tiff-jpeg"):
        data = bytearray(originals[name])
        for start in range(16, len(data) - 64, max(1, len(data) // 12)):
            damaged = bytearray(data)
            damaged[start:start + 48] = b"\xff\x00\x13\x37" * 12
            _check_outcome(bytes(damaged), name)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


# --- decompression bombs: small files that claim huge images -------------------------------------

def _png_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (8, 8)), "PNG"))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _jpeg_claiming(width: int, height: int, progressive: bool) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (64, 64), (90, 120, 150)), "JPEG", progressive=progressive))
    at = 2
    while at < len(data):
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC2):
            struct.pack_into(">HH", data, at + 5, height, width)
            return bytes(data)
        at += 2 + length
    raise AssertionError("no SOF marker")


def _tiff_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (8, 8)), "TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
        at = ifd + 2 + 12 * entry
        tag, kind = struct.unpack("<HH", data[at:at + 4])
        if tag in (256, 257):
            struct.pack_into("<H" if kind == 3 else "<I", data, at + 8, width if tag == 256 else height)
    return bytes(data)


def _gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("P", (8, 8)), "GIF"))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def _bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGB", (8, 8)), "BMP"))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def _webp_lossless_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(Image.new("RGBA", (8, 8)), "WEBP", lossless=True))
    at = data.index(b"VP8L") + 8  # chunk header, then the 0x2f signature and 14+14 bits of size
    bits = struct.unpack("<I", data[at + 1:at + 5])[0] & ~((1 << 28) - 1)
    struct.pack_into("<I", data, at + 1, bits | (width - 1) | ((height - 1) << 14))
    return bytes(data)


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("png", _png_claiming(100_000, 100_000), "the limit is 400 megapixels"),
    ("png", _png_claiming(12_000, 12_000), "a PNG image is accepted up to 100 megapixels"),
    ("gif", _gif_claiming(65_535, 65_535), "the limit is 400 megapixels"),
    ("gif", _gif_claiming(11_000, 11_000), "a GIF image is accepted up to 100 megapixels"),
    ("tiff", _tiff_claiming(60_000, 60_000), "the limit is 400 megapixels"),
    ("tiff", _tiff_claiming(15_000, 15_000), "a TIFF image is accepted up to 100 megapixels"),
    ("bmp", _bmp_claiming(30_000, 30_000), "the limit is 400 megapixels"),
    ("bmp", _bmp_claiming(12_000, 12_000), "a BMP image is accepted up to 100 megapixels"),
    ("pgm", b"P5\n100000 100000\n255\n" + bytes(64), "the limit is 400 megapixels"),
    ("pgm", b"P5\n12000 12000\n255\n" + bytes(64), "a PGM/PPM image is accepted up to 100 megapixels"),
    ("webp", _webp_lossless_claiming(16_384, 16_384), "a WebP image is accepted up to 50 megapixels"),
    ("jpeg", _jpeg_claiming(65_000, 65_000, progressive=False), "the limit is 400 megapixels"),
    ("jpeg", _jpeg_claiming(65_000, 6_000, progressive=True), "a progressive JPEG is accepted up to 100"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 8 else "")
def test_decompression_bombs_are_refused_from_the_header(tmp_path, name, data, reason):
    path = tmp_path / f"bomb.{name}"
    path.write_bytes(data)
    refused(path, reason, limit_s=0.5)


def test_size_limit_applies_to_every_format_that_decodes_whole(tmp_path, monkeypatch):
    """The same rule at a small scale: one pixel over the limit is refused, the limit itself loads."""
    monkeypatch.setattr(imaging, "MAX_FULL_DECODE_PIXELS", 64 * 64)
    monkeypatch.setattr(imaging, "FULL_DECODE_LIMITS", {})
    for fmt in ("PNG", "GIF", "TIFF", "BMP", "PPM", "WEBP"):
        ok = tmp_path / f"ok.{fmt.lower()}"
        ok.write_bytes(_encode(Image.new("RGB", (64, 64), (10, 200, 30)), fmt))
        assert load_image(ok).pixels.shape == (64, 64, 3)
        over = tmp_path / f"over.{fmt.lower()}"
        over.write_bytes(_encode(Image.new("RGB", (65, 64), (10, 200, 30)), fmt))
        refused(over, "is accepted up to 0 megapixels")
    baseline = tmp_path / "baseline.jpg"
    baseline.write_bytes(_encode(Image.new("RGB", (200, 100)), "JPEG"))
    assert load_image(baseline).pixels.shape == (100, 200, 3)  # baseline JPEG: decoded downscaled, exempt
    progressive = tmp_path / "progressive.jpg"
    progressive.write_bytes(_encode(Image.new("RGB", (200, 100)), "JPEG", progressive=True))
    refused(progressive, "a progressive JPEG is accepted up to")


PEAK_SCRIPT = """
import resource, sys, time
from core.vision.imaging import load_image
from core.errors import ImageError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    image = load_image(sys.argv[1])
    outcome = [image.original_size[0], image.original_size[1], image.pixels.shape[1], image.pixels.shape[0]]
except ImageError as error:
    outcome = error.reason
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(__import__("json").dumps({"outcome": outcome, "grew_mb": (peak - before) / 1024}))
"""


def peak_memory(path, env=None) -> dict:
    """Load ``path`` in a fresh interpreter: the outcome and how far its peak RSS grew (MB)."""
    result = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120, env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return json.loads(result.stdout)


def test_huge_jpeg_is_decoded_downscaled_in_little_memory(tmp_path):
    """A 5 KB JPEG that claims 65000 x 6000 (390 megapixels; 1.5 GB as RGB): decoded at 1/8."""
    path = tmp_path / "wide.jpg"
    path.write_bytes(_jpeg_claiming(65_000, 6_000, progressive=False))
    report = peak_memory(path)
    assert report["outcome"] == [65_000, 6_000, 4096, 378]
    assert report["grew_mb"] < 150, report


def test_zlib_bomb_png_at_the_limit_costs_its_pixels_once(tmp_path):
    """100 KB of PNG inflating to a 100-megapixel grey image: decoded (1 byte a pixel), downscaled in bands."""
    path = tmp_path / "zeros.png"
    Image.new("L", (10_000, 10_000)).save(path, optimize=True)
    assert path.stat().st_size < 200_000
    report = peak_memory(path)
    assert report["outcome"] == [10_000, 10_000, 4096, 4096]
    assert report["grew_mb"] < 100 + 150, report  # the decoded image, the output and band buffers


def test_libjpeg_memory_ceiling_stops_what_the_headers_hide(tmp_path):
    """Multi-scan JPEGs buffer every coefficient; JPEGMEM caps that even when the header looks harmless."""
    path = tmp_path / "progressive.jpg"
    path.write_bytes(_encode(Image.new("RGB", (3000, 3000), (1, 2, 3)), "JPEG", progressive=True))
    report = peak_memory(path, env={**os.environ, "JPEGMEM": "10M"})  # it needs about 27 MB
    assert isinstance(report["outcome"], str) and "truncated or corrupt" in report["outcome"]
    assert peak_memory(path)["outcome"] == [3000, 3000, 3000, 3000]


# --- an image folder as a camera: bad frames are skipped, logged, and the rest plays --------------

def test_image_folder_skips_what_cannot_be_read_and_goes_on(tmp_path, caplog):
    from core.live.camera import ImageFolderSource

    good = sample_face().read_bytes()
    (tmp_path / "1.jpg").write_bytes(good)
    (tmp_path / "2.jpg").write_bytes(good[: len(good) // 2])
    os.mkfifo(tmp_path / "3.jpg")
    (tmp_path / "4.jpg").symlink_to("/dev/zero")
    (tmp_path / "5.txt").write_text("notes")
    (tmp_path / "6.jpg").write_bytes(good)
    with caplog.at_level("WARNING", logger="core.live.camera"):
        source = ImageFolderSource(tmp_path)
        names = []
        while (frame := source.read()) is not None:
            names.append(frame.name)
    assert names == ["1.jpg", "6.jpg"] and source.skipped == 4
    skipped = "\n".join(caplog.messages)
    for reason in ("2.jpg: the image data is truncated or corrupt", "3.jpg: is a named pipe (FIFO)",
                   "4.jpg: is a character device", "5.txt: not an image"):
        assert reason in skipped


# --- the command line, through the installed console script --------------------------------------

def oneshot(*args, timeout=120):
    """Run the installed ``oneshot`` console script (the one beside this interpreter first)."""
    beside = Path(sys.executable).parent / "oneshot"
    script = str(beside) if beside.exists() else shutil.which("oneshot")
    if script is None:
        pytest.fail("the oneshot console script is not installed")
    return subprocess.run([script, *args], capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    os.mkfifo(folder / "pipe.jpg")
    with open(folder / "sparse.jpg", "wb") as file:
        file.write(sample_face().read_bytes())
    os.truncate(folder / "sparse.jpg", SPARSE_SIZE)
    data = sample_face().read_bytes()
    (folder / "damaged.png").write_bytes(_encode(Image.open(io.BytesIO(data)), "PNG")[:3000])
    tiff = bytearray(_encode(Image.new("RGB", (8, 8)), "TIFF"))  # Pillow logs an error of its own for this one
    ifd = struct.unpack("<I", tiff[4:8])[0]
    for entry in range(struct.unpack("<H", tiff[ifd:ifd + 2])[0]):
        if struct.unpack("<H", tiff[ifd + 2 + 12 * entry:ifd + 4 + 12 * entry])[0] == 277:  # SamplesPerPixel
            struct.pack_into("<H", tiff, ifd + 2 + 12 * entry + 8, 58115)
    (folder / "samples.tif").write_bytes(tiff)
    return folder


@pytest.mark.parametrize(("name", "first_line"), [
    ("pipe.jpg", "is a named pipe (FIFO), not an image file"),
    ("/dev/zero", "is a character device, not an image file"),
    ("sparse.jpg", "too large for an image file (6.4 GB; the limit is 500 MB)"),
])
def test_cli_refuses_special_and_huge_files_at_once(hostile, name, first_line):
    path = name if name.startswith("/") else str(hostile / name)
    start = time.perf_counter()
    result = oneshot("detect", path)
    assert time.perf_counter() - start < 60
    assert result.returncode == 2 and result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert lines == [f"oneshot: {path}: {first_line}", "oneshot: 1 image(s) could not be read"]


def test_cli_batch_goes_on_past_every_bad_file(hostile):
    paths = [hostile / "pipe.jpg", "/dev/zero", hostile / "sparse.jpg", sample_face(), hostile / "damaged.png",
             hostile / "samples.tif", hostile, hostile / "absent.jpg"]
    result = oneshot("detect", "--json", *map(str, paths))
    assert result.returncode == 2
    assert [entry["image"] for entry in json.loads(result.stdout)] == [str(sample_face())]
    lines = result.stderr.decode().splitlines()
    assert [line.split(": ", 2)[2] for line in lines[:-1]] == [
        "is a named pipe (FIFO), not an image file",
        "is a character device, not an image file",
        "too large for an image file (6.4 GB; the limit is 500 MB)",
        "the image data is truncated or corrupt (image file is truncated)",
        "not a valid TIFF file (Invalid value for samples per pixel)",
        "is a directory, not an image file",
        "no such file",
    ]
    assert lines[-1] == "oneshot: 7 image(s) could not be read" and b"Traceback" not in result.stderr


def test_cli_handles_non_utf8_file_names(tmp_path):
    name = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    with open(name, "wb") as file:
        file.write(sample_face().read_bytes())
    result = oneshot("detect", name)
    assert result.returncode == 0 and result.stderr == b""
    assert result.stdout.startswith(name + b": 1 face\n")  # printed as the very bytes of the name
    result = oneshot("detect", "--json", name, os.fsencode(tmp_path) + b"/gone\xff.jpg")
    assert result.returncode == 2
    assert [entry["image"] for entry in json.loads(result.stdout)] == [os.fsdecode(name)]
    assert result.stderr.decode("ascii").splitlines()[0] == f"oneshot: {tmp_path}/gone\\udcff.jpg: no such file"
