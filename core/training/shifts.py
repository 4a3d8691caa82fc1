"""Shifted copies of held-out chips: the same people masked, grey or at low resolution.

Evaluation uses them to measure a model where the user needs it (faces in masks, a grey or
infrared camera, a far camera) beside the clean figures. Every chip gets the shift (share 1),
painted by the training augmentation's own functions but from a generator seeded apart from
training's, so the held-out masks are not the ones the network saw.
"""

from __future__ import annotations

import numpy as np
import torch

from .augment import _grey, low_resolution, paint_masks
from .config import SHIFTS

EVALUATION_SEED = 20_151_015  # added to the run's seed: never the generator training draws from
BATCH = 256


def shifted_chips(chips: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """(N, S, S, 3) uint8 RGB chips -> the same chips under ``kind`` ("mask", "lowres", "grey")."""
    if kind not in SHIFTS:
        raise ValueError(f"shift must be one of {', '.join(SHIFTS)}")
    generator = torch.Generator().manual_seed(EVALUATION_SEED + int(seed))
    out = []
    for start in range(0, len(chips), BATCH):
        x = torch.from_numpy(np.ascontiguousarray(chips[start:start + BATCH])).permute(0, 3, 1, 2).float()
        every = torch.ones(len(x), dtype=torch.bool)
        if kind == "mask":
            x = paint_masks(x, every, generator)
        elif kind == "lowres":
            x = low_resolution(x, every, generator)
        else:
            x = _grey(x).expand_as(x)
        out.append(x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out) if out else chips.copy()
