"""The distance the whole product uses, as an object the losses and miners are given.

d(a, b) = ||a - b||^2, the same squared L2 the matcher compares with tau, so a margin
learnt here is a margin in the units users set tau in.
"""

from __future__ import annotations

import torch


class SquaredL2:
    """Pairwise squared Euclidean distances; smaller means more alike."""

    def pairwise(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(N, D), (M, D) -> (N, M); ``y`` defaults to ``x``. Clamped at 0 against rounding."""
        y = x if y is None else y
        squared = (x * x).sum(1, keepdim=True) - 2.0 * x @ y.T + (y * y).sum(1).unsqueeze(0)
        return squared.clamp_min(0.0)

    def paired(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Row-wise distances between two (N, D) tensors."""
        return (x - y).pow(2).sum(1)
