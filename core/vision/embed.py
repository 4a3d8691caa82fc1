"""The Siamese branch f(x): face chips in, 128-d descriptors out, and the distance between them.

Two faces belong to the same person when d(a, b) = ||f(a) - f(b)||^2 is below tau. All chips
of a frame go through the network in one batched call.
"""

from __future__ import annotations

import numpy as np

from ..models.registry import ModelSpec, checked_input
from .align import CHIP_SIZE
from .network_input import ChipInput


class FaceEmbedder:
    """Embed aligned RGB chips with an embedding-network session.

    An imported network (its manifest has ``input.from_chip``) takes the same 150x150 chips,
    turned into its own input by ``core.vision.network_input``; the shipped one takes them as they are.
    """

    def __init__(self, session, spec: ModelSpec) -> None:
        self.session = session
        self.spec = spec
        self.input_name = checked_input(session, spec, "embedder")
        recipe = spec.input.get("from_chip")
        self.recipe = ChipInput.from_manifest(recipe) if recipe else None
        self.chip_size = CHIP_SIZE if self.recipe else int(spec.input["shape"][-1])
        self.tau = float(spec.defaults["tau"])
        self.duplicate_tau = float(spec.defaults.get("duplicate_tau", self.tau))

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB chips -> (N, D) float32 descriptors, in one network call."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.ndim != 4 or chips.shape[1:] != (self.chip_size, self.chip_size, 3):
            raise ValueError(f"expected (N, {self.chip_size}, {self.chip_size}, 3) chips, got {chips.shape}")
        if len(chips) == 0:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        if self.recipe is not None:
            return self.recipe.run(self._network, chips)
        return self._network(np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32))

    def _network(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]

    @property
    def embedding_size(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1])


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Squared L2 distance d(a, b) = ||a - b||^2 along the last axis (broadcasts)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    result = np.einsum("...i,...i->...", diff, diff)
    return float(result) if np.ndim(result) == 0 else result


def same_person(d: float, tau: float) -> bool:
    """The decision: same person when the distance is below tau."""
    return d < tau
