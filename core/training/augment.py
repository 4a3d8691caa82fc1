"""Chip augmentation on the training device: flip, colour, small rotation and scale, blur, grey.

Written with plain tensor operations (one affine grid for rotation and scale, one separable
Gaussian for blur) because torchvision is not installable beside the CPU build of torch the
project pins. Inputs and outputs are (B, 3, S, S) float chips in the network's 0..255 range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

GREY_WEIGHTS = (0.299, 0.587, 0.114)


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

    def __call__(self, chips: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        batch = len(chips)

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(batch, generator=generator, device=chips.device) * (high - low) + low

        def chance(p: float) -> torch.Tensor:
            return torch.rand(batch, generator=generator, device=chips.device) < p

        x = _affine(chips, uniform(-self.rotation_degrees, self.rotation_degrees),
                    uniform(1 - self.scale, 1 + self.scale), chance(self.flip))
        x = _colour(x, uniform(1 - self.brightness, 1 + self.brightness), uniform(1 - self.contrast, 1 + self.contrast),
                    uniform(1 - self.saturation, 1 + self.saturation))
        x = torch.where(chance(self.blur)[:, None, None, None], _blur(x, uniform(0.5, 1.5)), x)
        x = torch.where(chance(self.greyscale)[:, None, None, None], _grey(x).expand_as(x), x)
        return x.clamp(0.0, 255.0)


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
