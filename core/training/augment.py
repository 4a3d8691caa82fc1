"""Chip augmentation on the training device: flip, colour, small rotation and scale, blur, grey,
and the synthetic domain shifts a user may need to train for: a mask over the lower face and a
low-resolution camera.

Written with plain tensor operations (one affine grid for rotation and scale, one separable
Gaussian for blur) because torchvision is not installable beside the CPU build of torch the
project pins. Inputs and outputs are (B, 3, S, S) float chips in the network's 0..255 range.

Masks are painted from landmarks without detecting anything: every chip is aligned so its five
landmarks sit at ``core.vision.align.chip_landmarks`` (eyes, nose tip, mouth corners), so the nose
bridge, the mouth and the chin are at known places in any chip. Every random choice is drawn
from the generator passed in, never from process-wide state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..vision.align import CHIP_PADDING, chip_landmarks

GREY_WEIGHTS = (0.299, 0.587, 0.114)
# Mask fabrics (RGB 0..255): surgical white and blue, black, grey, and cloth colours; a share
# of masks gets stripes or checks on top of the base colour.
MASK_COLOURS = ((235, 238, 240), (205, 225, 240), (140, 185, 215), (95, 150, 200), (30, 30, 34),
                (60, 62, 70), (160, 160, 165), (180, 60, 70), (70, 110, 80), (200, 180, 150))
PATTERNED = 0.3  # share of masks with a pattern
LOWRES_FACE_PIXELS = (24, 64)  # the face's width after down-sampling, in pixels


@dataclass(frozen=True)
class Augmentation:
    flip: float = 0.5  # probability of a horizontal mirror
    brightness: float = 0.2  # +-20% gain
    contrast: float = 0.2
    saturation: float = 0.2
    rotation_degrees: float = 8.0
    scale: float = 0.08  # +-8% zoom
    blur: float = 0.2  # probability of a Gaussian blur with sigma in [0.5, 1.5]
    greyscale: float = 0.0  # probability of a grey chip (0.5 and more for a grey or infrared camera)
    mask: float = 0.0  # probability of a painted mask over nose and mouth
    lowres: float = 0.0  # probability of down- then up-sampling to a face of 24-64 pixels

    @classmethod
    def from_config(cls, config) -> "Augmentation | None":
        """What a ``TrainConfig`` asks for; None when it asks for nothing at all.

        ``augment=False`` turns off the generic jitter (flip, colour, rotation, scale, blur) but
        keeps the domain shifts the user asked for by share (grey, mask, low resolution).
        """
        shifts = {"greyscale": config.greyscale, "mask": getattr(config, "mask_share", 0.0),
                  "lowres": getattr(config, "lowres_share", 0.0)}
        if config.augment:
            return cls(**shifts)
        if not any(shifts.values()):
            return None
        return cls(flip=0.0, brightness=0.0, contrast=0.0, saturation=0.0, rotation_degrees=0.0, scale=0.0,
                   blur=0.0, **shifts)

    def __call__(self, chips: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        batch = len(chips)

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(batch, generator=generator, device=chips.device) * (high - low) + low

        def chance(p: float) -> torch.Tensor:
            return torch.rand(batch, generator=generator, device=chips.device) < p

        x = paint_masks(chips, chance(self.mask), generator) if self.mask > 0 else chips  # before the
        # geometry, so a mask turns and zooms with the face it sits on
        x = _affine(x, uniform(-self.rotation_degrees, self.rotation_degrees),
                    uniform(1 - self.scale, 1 + self.scale), chance(self.flip))
        x = _colour(x, uniform(1 - self.brightness, 1 + self.brightness), uniform(1 - self.contrast, 1 + self.contrast),
                    uniform(1 - self.saturation, 1 + self.saturation))
        x = torch.where(chance(self.blur)[:, None, None, None], _blur(x, uniform(0.5, 1.5)), x)
        if self.lowres > 0:
            x = low_resolution(x, chance(self.lowres), generator)
        x = torch.where(chance(self.greyscale)[:, None, None, None], _grey(x).expand_as(x), x)
        return x.clamp(0.0, 255.0)


def paint_masks(chips: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Paint a face mask over nose and mouth of the chips where ``where`` is true.

    The mask is the region between a top edge (across the nose bridge, dipping towards the
    cheeks like a surgical mask or rising like a cloth one) and a rounded bottom edge under the
    chin, as wide as the cheeks; each chip draws its own height, width, curvature, tilt, shift,
    fabric colour, optional stripes or checks, shading and a soft one-to-two-pixel edge.
    """
    batch, _, size, width = chips.shape
    if not bool(where.any()):
        return chips
    device, dtype = chips.device, chips.dtype

    def uniform(low: float, high: float) -> torch.Tensor:
        return (torch.rand(batch, generator=generator, device=device) * (high - low) + low).to(dtype)

    marks = torch.as_tensor(chip_landmarks(size, CHIP_PADDING), dtype=dtype, device=device)
    eye_y, nose_y, mouth_y = marks[:2, 1].mean(), marks[2, 1], marks[3:, 1].mean()
    eye_gap = marks[1, 0] - marks[0, 0]
    centre_x = uniform(-0.04, 0.04) * eye_gap + marks[2, 0]
    top = eye_y + uniform(0.35, 0.7) * (nose_y - eye_y)  # from just under the eyes to mid-nose
    bottom = mouth_y + uniform(0.7, 1.25) * (mouth_y - nose_y)  # the chin, or below it
    half_width = uniform(0.62, 0.85) * eye_gap
    top_bend = uniform(-0.06, 0.18) * eye_gap  # > 0: edges lower at the cheeks (surgical)
    bottom_bend = uniform(0.15, 0.45) * eye_gap  # the rounding under the chin
    tilt = uniform(-0.08, 0.08)  # slope of the whole mask, radians-ish
    soft = uniform(0.6, 1.8)  # edge width in pixels

    ys = torch.arange(size, dtype=dtype, device=device).view(1, size, 1)
    xs = torch.arange(width, dtype=dtype, device=device).view(1, 1, width)
    u = (xs - centre_x.view(-1, 1, 1)) / half_width.view(-1, 1, 1)  # -1..1 across the mask
    y = ys - tilt.view(-1, 1, 1) * (xs - centre_x.view(-1, 1, 1))
    top_edge = top.view(-1, 1, 1) + top_bend.view(-1, 1, 1) * u ** 2
    bottom_edge = bottom.view(-1, 1, 1) - bottom_bend.view(-1, 1, 1) * u ** 2
    s = soft.view(-1, 1, 1)
    alpha = (torch.sigmoid((y - top_edge) / s) * torch.sigmoid((bottom_edge - y) / s)
             * torch.sigmoid((1.0 - u.abs()) * half_width.view(-1, 1, 1) / s))  # (B, S, S)

    palette = torch.tensor(MASK_COLOURS, dtype=dtype, device=device)
    pick = torch.randint(len(palette), (batch,), generator=generator, device=device)
    colour = palette[pick] * uniform(0.85, 1.1).view(-1, 1)  # (B, 3), some lighting
    # shading: darker towards the cheeks and the bottom, as on a curved surface
    shade = 1.0 - uniform(0.05, 0.25).view(-1, 1, 1) * u.clamp(-1, 1) ** 2
    shade = shade - 0.1 * ((y - top_edge) / (bottom_edge - top_edge).clamp(min=1.0)).clamp(0, 1)
    pattern_kind = torch.rand(batch, generator=generator, device=device)
    period = uniform(4.0, 12.0).view(-1, 1, 1)
    stripes = torch.sin(2 * math.pi * y / period)
    checks = torch.sin(2 * math.pi * y / period) * torch.sin(2 * math.pi * xs / period)
    pattern = torch.where((pattern_kind < PATTERNED / 2).view(-1, 1, 1), stripes,
                          torch.where((pattern_kind < PATTERNED).view(-1, 1, 1), checks, torch.zeros_like(checks)))
    fabric = colour[:, :, None, None] * (shade + 0.18 * pattern)[:, None]  # (B, 3, S, S)
    alpha = (alpha * where.to(dtype).view(-1, 1, 1))[:, None]
    return chips * (1 - alpha) + fabric.clamp(0.0, 255.0) * alpha


def low_resolution(chips: torch.Tensor, where: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Down-sample the chips where ``where`` is true so the face is 24-64 pixels wide, then back up.

    The face spans ``size / (1 + 2 * padding)`` pixels of a chip (100 of 150), so a face of f
    pixels means a chip of ``size * f / 100``; anti-aliased area-like down-sampling is what a
    camera's sensor does, bilinear up-sampling is what the aligner does to a small face.
    """
    batch, _, size, _ = chips.shape
    faces = (torch.rand(batch, generator=generator, device=chips.device)
             * (LOWRES_FACE_PIXELS[1] - LOWRES_FACE_PIXELS[0]) + LOWRES_FACE_PIXELS[0])
    face_in_chip = size / (1 + 2 * CHIP_PADDING)
    out = chips.clone()
    for i in torch.nonzero(where).flatten().tolist():
        small = max(4, int(round(size * float(faces[i]) / face_in_chip)))
        down = F.interpolate(chips[i:i + 1], size=(small, small), mode="bilinear", antialias=True,
                             align_corners=False)
        out[i:i + 1] = F.interpolate(down, size=(size, size), mode="bilinear", align_corners=False)
    return out


def _affine(x: torch.Tensor, degrees: torch.Tensor, zoom: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Rotate and zoom about the centre, mirror where ``flip``; the border is replicated."""
    radians = degrees * (math.pi / 180.0)
    cos, sin = torch.cos(radians) / zoom, torch.sin(radians) / zoom
    mirror = 1.0 - 2.0 * flip.to(x.dtype)
    zeros = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos * mirror, -sin, zeros], 1), torch.stack([sin * mirror, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _grey(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(GREY_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def _colour(x: torch.Tensor, gain: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    x = x * gain[:, None, None, None]
    grey = _grey(x)
    x = grey + (x - grey) * saturation[:, None, None, None]
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (x - mean) * contrast[:, None, None, None]


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian, a 7-tap kernel per chip (grouped convolution over chips x channels)."""
    batch, channels, height, width = x.shape
    taps = torch.arange(-3, 4, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(taps[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(channels, 0)  # (B*C, 7)
    flat = x.reshape(1, batch * channels, height, width)
    flat = F.conv2d(F.pad(flat, (3, 3, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=batch * channels)
    flat = F.conv2d(F.pad(flat, (0, 0, 3, 3), mode="replicate"), kernel[:, None, :, None], groups=batch * channels)
    return flat.reshape(batch, channels, height, width)
