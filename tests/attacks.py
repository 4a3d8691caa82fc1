"""Synthetic presentation attacks, rendered from a bona fide photo as a 640x480 webcam sees them.

Three renderers, each deterministic for a ``numpy.random.Generator`` passed in:

- ``bona_fide_frame``: the photo itself cropped (never letterboxed) to 640x480 around the face,
  as a live webcam frame of that person would be;
- ``print_attack``: the photo printed (white paper border, lifted blacks, less contrast and
  saturation, paper grain) and held up in front of a background (another photo blurred, or a
  plain wall), slightly tilted in perspective, lit unevenly and with a glare spot;
- ``screen_attack``: the photo on a phone or monitor (dark bezel), its RGB subpixel grid
  resampled by the camera at a small angle so that it aliases into moiré, with a glare
  gradient over the glass, a colour cast and a slight blur.

All three end with the same camera: sensor noise and JPEG recompression. ``box`` is the face
(x1, y1, x2, y2) in the photo's pixels; without one the largest centred crop is used. Used by
tests/test_attacks.py and tests/benchmarks/test_liveness.py; nothing here is fetched.
"""

from __future__ import annotations

import cv2
import numpy as np

FRAME = (640, 480)  # width, height
Box = tuple[float, float, float, float]


def camera(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise (Gaussian, sigma 1.5-4 levels) then JPEG at quality 70-92, as a webcam delivers."""
    noisy = frame.astype(np.float32) + rng.normal(0.0, rng.uniform(1.5, 4.0), frame.shape).astype(np.float32)
    encoded = cv2.imencode(".jpg", cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 93))])[1]
    return np.ascontiguousarray(cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))


def crop_around(photo: np.ndarray, box: Box | None, aspect: float, face_fraction: float,
                rng: np.random.Generator) -> np.ndarray:
    """The part of ``photo`` of shape ``aspect`` (width / height) around the face, the face
    ``face_fraction`` of its height where the photo is large enough (the face fills more
    where it is not); the centre jitters by up to 5% of the crop, the crop stays inside."""
    height, width = photo.shape[:2]
    x1, y1, x2, y2 = box if box is not None else (0.0, 0.0, float(width), float(height))
    crop_h = (y2 - y1) / face_fraction
    crop_h = min(crop_h, height, width / aspect)
    crop_w = crop_h * aspect
    cx = (x1 + x2) / 2 + rng.uniform(-0.05, 0.05) * crop_w
    cy = (y1 + y2) / 2 + rng.uniform(-0.05, 0.05) * crop_h
    left = int(round(min(max(cx - crop_w / 2, 0), width - crop_w)))
    top = int(round(min(max(cy - crop_h / 2, 0), height - crop_h)))
    return photo[top:top + max(int(crop_h), 1), left:left + max(int(crop_w), 1)]


def resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height), area-averaged down, bilinear up."""
    shrink = size[0] < pixels.shape[1]
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def bona_fide_frame(photo: np.ndarray, rng: np.random.Generator, box: Box | None = None) -> np.ndarray:
    """A live webcam frame: the photo cropped to 4:3 around the face (30-45% of the height), scaled to 640x480."""
    crop = crop_around(photo, box, FRAME[0] / FRAME[1], rng.uniform(0.30, 0.45), rng)
    return camera(resize(crop, FRAME), rng)


def background(rng: np.random.Generator, scene: np.ndarray | None = None) -> np.ndarray:
    """What is behind the attack: ``scene`` covering the frame and blurred (out of focus), or a plain wall."""
    width, height = FRAME
    if scene is not None:
        crop = crop_around(scene, None, width / height, 1.0, rng)
        return cv2.GaussianBlur(resize(crop, FRAME), (0, 0), rng.uniform(3.0, 8.0)).astype(np.float32)
    wall = rng.uniform(140, 225) * rng.uniform(0.92, 1.08, 3)
    shade = cv2.resize(rng.uniform(0.85, 1.1, (3, 4)).astype(np.float32), FRAME, interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0.0, 3.0, (height, width, 1))
    return (wall[None, None] * shade[..., None] + grain).astype(np.float32)


def place(sheet: np.ndarray, height_fraction: float, tilt: float, rng: np.random.Generator) -> np.ndarray:
    """The 3x3 homography putting ``sheet`` ``height_fraction`` of the frame high near its
    centre, each corner moved by up to ``tilt`` of the sheet's size (a slight perspective)."""
    width, height = FRAME
    sheet_h, sheet_w = sheet.shape[:2]
    out_h = height * height_fraction
    out_w = out_h * sheet_w / sheet_h
    if out_w > width * 0.95:
        out_w, out_h = width * 0.95, width * 0.95 * sheet_h / sheet_w
    cx = width / 2 + rng.uniform(-0.5, 0.5) * (width - out_w) * 0.8
    cy = height / 2 + rng.uniform(-0.5, 0.5) * (height - out_h) * 0.8
    angle = np.deg2rad(rng.uniform(-6, 6))
    corners = np.array([[-out_w, -out_h], [out_w, -out_h], [out_w, out_h], [-out_w, out_h]]) / 2
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = corners @ rotation.T + [cx, cy] + rng.uniform(-tilt, tilt, (4, 2)) * [out_w, out_h]
    source = np.array([[0, 0], [sheet_w, 0], [sheet_w, sheet_h], [0, sheet_h]], dtype=np.float32)
    return cv2.getPerspectiveTransform(source, target.astype(np.float32))


def composite(back: np.ndarray, sheet: np.ndarray, homography: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sheet`` warped onto ``back``; returns the frame (float) and the sheet's coverage mask (H, W, 1)."""
    warped = cv2.warpPerspective(sheet.astype(np.float32), homography, FRAME, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones(sheet.shape[:2], np.float32), homography, FRAME, flags=cv2.INTER_LINEAR)[..., None]
    return back * (1 - mask) + warped * mask, mask


def lighting(frame: np.ndarray, mask: np.ndarray, low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """Uneven light on the sheet: a random linear ramp between ``low`` and ``high`` times the level."""
    width, height = FRAME
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (xs / width - 0.5) * direction[0] + (ys / height - 0.5) * direction[1]
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    gain = low + (high - low) * ramp
    return frame * (1 - mask) + frame * gain[..., None] * mask


def print_attack(photo: np.ndarray, rng: np.random.Generator, box: Box | None = None,
                 scene: np.ndarray | None = None) -> np.ndarray:
    """A printed photo held up to the webcam (see the module's docstring); ``scene`` is the background, if any."""
    aspect = 3 / 4 if rng.random() < 0.5 else 4 / 3
    picture = resize(crop_around(photo, box, aspect, rng.uniform(0.35, 0.5), rng), (600, round(600 / aspect)))
    picture = picture.astype(np.float32)
    # ink on paper: less saturation and contrast, blacks lifted, a little blur from the dots
    grey = picture.mean(axis=2, keepdims=True)
    picture = grey + (picture - grey) * rng.uniform(0.55, 0.85)
    picture = 128 + (picture - 128) * rng.uniform(0.7, 0.9) + rng.uniform(5, 20)
    picture = cv2.GaussianBlur(picture, (0, 0), rng.uniform(0.6, 1.4))
    margin = int(picture.shape[1] * rng.uniform(0.03, 0.08))
    paper = np.full((picture.shape[0] + 2 * margin, picture.shape[1] + 2 * margin, 3),
                    rng.uniform(225, 250) * rng.uniform(0.97, 1.02, 3), np.float32)
    paper[margin:-margin, margin:-margin] = picture
    # paper texture: slow waviness of the sheet and fine grain
    sheet_h, sheet_w = paper.shape[:2]
    waves = cv2.resize(rng.uniform(0.94, 1.04, (5, 5)).astype(np.float32), (sheet_w, sheet_h), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 6, (sheet_h, sheet_w)).astype(np.float32), (0, 0), 0.8)
    paper = paper * waves[..., None] + grain[..., None]
    frame, mask = composite(background(rng, scene), paper, place(paper, rng.uniform(0.55, 0.85), 0.06, rng))
    frame = lighting(frame, mask, rng.uniform(0.65, 0.9), rng.uniform(1.0, 1.15), rng)
    # glare: a soft bright spot where the lamp reflects off the paper
    width, height = FRAME
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    radius = rng.uniform(40, 140)
    glare = rng.uniform(40, 120) * np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius ** 2))
    frame = frame + glare[..., None] * mask
    return camera(np.clip(frame, 0, 255).astype(np.uint8), rng)


def subpixels(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each screen pixel as 3x3 camera-side samples: R, G and B stripes, a darker row between pixel rows."""
    big = np.repeat(np.repeat(picture, 3, axis=0), 3, axis=1)
    floor = rng.uniform(0.45, 0.75)  # how much the lens already mixes neighbouring stripes
    stripes = np.full((3, 3, 3), floor, np.float32)
    for channel in range(3):
        stripes[:, channel, channel] = 1.0
    stripes[2] *= rng.uniform(0.7, 0.9)  # the black matrix between rows of pixels
    tiles = np.tile(stripes, (picture.shape[0], picture.shape[1], 1))
    return big * tiles / tiles.mean(axis=(0, 1))  # the same mean brightness per channel


def screen_attack(photo: np.ndarray, rng: np.random.Generator, box: Box | None = None,
                  scene: np.ndarray | None = None) -> np.ndarray:
    """The photo on a phone (portrait) or monitor (landscape) held to the webcam (see the module's docstring)."""
    phone = rng.random() < 0.5
    aspect = 9 / 16 if phone else 16 / 10
    height_fraction = rng.uniform(0.6, 0.9) if phone else rng.uniform(0.45, 0.65)
    # screen pixels per frame pixel near 1, so the camera's sampling beats against the grid
    pitch = rng.uniform(0.7, 1.6)
    screen_h = max(int(FRAME[1] * height_fraction / pitch), 32)
    picture = resize(crop_around(photo, box, aspect, rng.uniform(0.35, 0.55), rng),
                     (max(int(screen_h * aspect), 16), screen_h)).astype(np.float32)
    picture = np.clip(255 * (picture / 255) ** rng.uniform(0.8, 1.0) * rng.uniform(1.0, 1.15), 0, 255)  # emitted light
    panel = subpixels(picture, rng)
    bezel = int(panel.shape[1] * rng.uniform(0.03, 0.08))
    device = np.full((panel.shape[0] + 2 * bezel, panel.shape[1] + 2 * bezel, 3), rng.uniform(8, 30), np.float32)
    device[bezel:-bezel, bezel:-bezel] = panel
    # INTER_LINEAR samples (does not average) the fine grid: the aliasing is the moire
    frame, mask = composite(background(rng, scene), device, place(device, height_fraction, 0.04, rng))
    cast = np.array([rng.uniform(0.88, 1.0), rng.uniform(0.96, 1.04), rng.uniform(1.0, 1.15)], np.float32)
    frame = frame * (1 - mask) + frame * cast * mask
    frame = lighting(frame, mask, rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.1), rng)
    # glare gradient: the room's light reflected by the glass, strongest on one side
    width, height = FRAME
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.normal(size=2)
    ramp = np.clip(((xs / width - 0.5) * direction[0] + (ys / height - 0.5) * direction[1]) / np.abs(direction).sum() + 0.5, 0, 1)
    frame = frame + rng.uniform(20, 70) * ramp[..., None] ** 2 * mask
    frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.4, 0.9))
    return camera(np.clip(frame, 0, 255).astype(np.uint8), rng)


ATTACKS = {"print": print_attack, "screen": screen_attack}
