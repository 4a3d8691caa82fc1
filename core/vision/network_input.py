"""How a stored 150x150 dlib chip becomes the input of an imported network, and its output a descriptor.

Every caller (pipeline, gallery, calibration, FP16 checks) hands the embedder the same dlib
chips; an imported model's manifest says, under ``input.from_chip``, how to turn them into
what that network was trained on: re-framed to its template by one fixed similarity, channel
order, (x - mean) / std, NCHW or NHWC, and a fixed batch padded. Its output is L2-normalised,
so the one squared distance of ``core.vision.embed`` applies unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .align import chip_to_template, warp_chip


@dataclass(frozen=True)
class ChipInput:
    """The recipe an imported model's manifest states (``input.from_chip``)."""

    template: str  # "arcface-112" or "dlib-150"
    size: int  # the network's square input side
    channels: str  # "RGB" or "BGR"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layout: str  # "NCHW" or "NHWC"
    batch: int | None  # a fixed batch size, or None when the batch is dynamic

    @classmethod
    def from_manifest(cls, recipe: dict) -> "ChipInput":
        return cls(recipe["template"], int(recipe["size"]), recipe["channels"], tuple(recipe["mean"]),
                   tuple(recipe["std"]), recipe["layout"], recipe["batch"])

    def manifest(self) -> dict:
        return {"template": self.template, "size": self.size, "channels": self.channels, "mean": list(self.mean),
                "std": list(self.std), "layout": self.layout, "batch": self.batch, "normalise": "l2"}

    @cached_property
    def framing(self) -> np.ndarray:
        """The chip-to-input similarity, the same for every chip: solved once, not per batch."""
        return chip_to_template(self.template, self.size)

    def network_batch(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 chips -> the float32 network input for them."""
        framed = np.stack([warp_chip(chip, self.framing, self.size) for chip in chips]).astype(np.float32)
        if self.channels == "BGR":
            framed = framed[..., ::-1]
        framed = (framed - np.float32(self.mean)) / np.float32(self.std)
        return np.ascontiguousarray(framed.transpose(0, 3, 1, 2) if self.layout == "NCHW" else framed)

    def run(self, network: Callable[[np.ndarray], np.ndarray], chips: np.ndarray) -> np.ndarray:
        """Descriptors of ``chips``: a fixed batch is filled with zeros and the padding rows dropped."""
        batch = self.network_batch(chips)
        if self.batch is None:
            return l2_normalised(network(batch))
        parts = []
        for start in range(0, len(batch), self.batch):
            part = batch[start:start + self.batch]
            padding = np.zeros((self.batch - len(part), *part.shape[1:]), dtype=np.float32)
            parts.append(network(np.concatenate([part, padding]))[:len(part)])
        return l2_normalised(np.concatenate(parts))


def channel_values(parts: list[str]) -> tuple[float, float, float]:
    """A mean or std as typed: one number for every channel, or three (R, G, B); ``ValueError``
    for anything else (the command line and the import dialog each say so in their own words)."""
    values = [float(part) for part in parts]
    if len(values) not in (1, 3):
        raise ValueError(f"{len(values)} numbers")
    return tuple(values * 3 if len(values) == 1 else values)


def l2_normalised(vectors: np.ndarray) -> np.ndarray:
    """Unit-length rows (a zero row stays zero; NaN stays NaN, for the import's check to see)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
