"""Loading images: every awkward input either loads correctly or fails with a specific error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.vision.imaging import MAX_DECODED_SIDE, decode_image, load_image
from core.resources import sample_face

# Pillow's EXIF orientation values and the transpose that stores an upright image under them.
STORED_UNDER_ORIENTATION = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.fixture(scope="module")
def sample() -> Image.Image:
    with Image.open(sample_face()) as image:
        return image.convert("RGB")


@pytest.fixture(scope="module")
def sample_box(pipeline, sample):
    faces = pipeline.detect(np.asarray(sample))
    assert len(faces) == 1
    return np.array(faces[0].box)


def only_face_box(pipeline, path) -> np.ndarray:
    faces = pipeline.find_faces(load_image(path))
    assert len(faces) == 1, f"{path}: {len(faces)} faces"
    return np.array(faces[0].box)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.jpg", b"this is a text file, not a photo\n", "not an image"),
        ("empty.jpg", b"", "the file is empty"),
    ],
)
def test_non_images_are_refused_by_content(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as caught:
        load_image(path)
    assert str(caught.value).startswith(str(path))


def test_truncated_jpeg_is_reported(tmp_path):
    data = sample_face().read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("RGBA", ".png"), ("L", ".png"), ("I;16", ".png"), ("P", ".gif"), ("RGB", "")],
    ids=["rgba", "grey", "16-bit", "gif", "no-extension"],
)
def test_other_formats_load_and_find_the_same_face(tmp_path, pipeline, sample, sample_box, mode, suffix):
    if mode == "I;16":
        grey = np.asarray(sample.convert("L"), dtype=np.uint16) * 257
        image = Image.fromarray(grey)  # Pillow stores 16-bit grey as mode I;16
    else:
        image = sample.convert(mode)
    path = tmp_path / f"face{suffix}"
    image.save(path, format="PNG" if mode != "P" else "GIF")
    loaded = load_image(path)
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == (480, 640, 3)
    assert np.abs(only_face_box(pipeline, path) - sample_box).max() < 6


def test_sixteen_bit_values_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    pixels = load_image(path).pixels
    assert pixels[..., 0].ravel().tolist() == list(range(256))


def test_transparent_pixels_become_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)  # black and fully transparent
    rgba[0, 0] = (10, 20, 30, 255)
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    pixels = decode_image(buffer.getvalue()).pixels
    assert pixels[0, 0].tolist() == [10, 20, 30]
    assert pixels[3, 3].tolist() == [255, 255, 255]


@pytest.mark.parametrize("orientation", sorted(STORED_UNDER_ORIENTATION))
def test_exif_rotated_photos_come_out_upright(tmp_path, pipeline, sample, sample_box, orientation):
    stored = sample.transpose(STORED_UNDER_ORIENTATION[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rotated{orientation}.jpg"
    stored.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.original_size == (640, 480)
    assert loaded.pixels.shape == (480, 640, 3)
    assert np.abs(only_face_box(pipeline, path) - sample_box).max() < 6


def test_huge_image_is_downscaled_and_reported_in_original_pixels(tmp_path, pipeline, sample, sample_box):
    """12000x12000: decoded at most MAX_DECODED_SIDE wide, coordinates still in the file's pixels."""
    side, factor, offset = 12000, 8, (2000, 3000)
    canvas = Image.new("RGB", (side, side), (120, 120, 120))
    canvas.paste(sample.resize((640 * factor, 480 * factor), Image.Resampling.BILINEAR), offset)
    path = tmp_path / "huge.jpg"
    canvas.save(path, quality=85)
    del canvas
    loaded = load_image(path)
    assert max(loaded.pixels.shape[:2]) <= MAX_DECODED_SIDE
    assert loaded.original_size == (side, side)
    expected = sample_box * factor + np.array(offset * 2)
    found = only_face_box(pipeline, path)
    assert np.abs(found - expected).max() < 0.03 * (expected[2] - expected[0])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_like_pillow(tmp_path, orientation):
    """All eight EXIF orientations, pixel for pixel as ``ImageOps.exif_transpose`` turns them."""
    from PIL import ImageOps

    stored = Image.fromarray(np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    stored.save(path, exif=exif)
    loaded = load_image(path)
    with Image.open(path) as reference:
        expected = np.asarray(ImageOps.exif_transpose(reference).convert("RGB"))
    assert np.array_equal(loaded.pixels, expected) and loaded.pixels.flags["C_CONTIGUOUS"]
    assert loaded.original_size == expected.shape[1::-1] and loaded.scale == 1.0


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "I;16"])
def test_band_by_band_downscaling_equals_one_box_resize(tmp_path, mode):
    """Large non-JPEG images are converted and shrunk in bands; the result is the whole-image BOX resize."""
    rng = np.random.default_rng(7)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (230, 9001), dtype=np.uint16))
        flat = Image.fromarray((np.asarray(image, dtype=np.float64) * 255 / 65535 + 0.5).astype(np.uint8), "L")
    else:
        channels = 4 if mode == "RGBA" else 3  # RGBA: every level of transparency
        image = Image.fromarray(rng.integers(0, 255, (230, 9001, channels), dtype=np.uint8)).convert(mode)
        flat = image.convert("RGBA") if mode == "RGBA" else image
        if mode == "RGBA":
            flat = Image.alpha_composite(Image.new("RGBA", flat.size, (255, 255, 255, 255)), flat)
    path = tmp_path / "wide.png"
    image.save(path)
    loaded = load_image(path)
    expected = np.asarray(flat.convert("RGB").resize(loaded.pixels.shape[1::-1], Image.Resampling.BOX))
    assert loaded.pixels.shape == (105, MAX_DECODED_SIDE, 3) and loaded.original_size == (9001, 230)
    assert loaded.scale == pytest.approx(9001 / MAX_DECODED_SIDE)
    assert np.abs(loaded.pixels.astype(int) - expected).max() <= 1


@pytest.mark.parametrize(("size", "fmt"), [((20000, 3), "JPEG"), ((3, 30000), "PNG"), ((65000, 1), "JPEG")])
def test_extreme_aspect_ratios_are_downscaled_not_divided_by_zero(tmp_path, size, fmt):
    path = tmp_path / f"thin.{fmt.lower()}"
    Image.new("RGB", size, (200, 10, 10)).save(path, fmt)
    loaded = load_image(path)
    assert max(loaded.pixels.shape[:2]) == MAX_DECODED_SIDE and min(loaded.pixels.shape[:2]) == 1
    assert loaded.original_size == size and loaded.scale == pytest.approx(max(size) / MAX_DECODED_SIDE)
