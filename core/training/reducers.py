"""Reducers: per-triplet or per-pair losses -> the one number that is back-propagated.

Kept apart from the losses (as pytorch-metric-learning does) so "how much each triplet costs"
and "how the costs are averaged" can be read, tested and changed one at a time. An empty
input gives a zero that still hangs on the graph (+0.0, not -0.0), so a batch without
triplets is a step with zero gradient rather than an error.
"""

from __future__ import annotations

import torch


class MeanReducer:
    """The mean over every element, zeros included (the pair classifier's cross-entropy)."""

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        return losses.mean() if losses.numel() else losses.sum() * 0.0


class MeanOverActive:
    """The mean over the elements that still teach something (loss > 0), as FaceNet averages.

    Averaging over all triplets instead would shrink the gradient as training succeeds and
    most triplets fall inside the margin.
    """

    def __call__(self, losses: torch.Tensor) -> torch.Tensor:
        active = losses > 0
        return losses[active].mean() if bool(active.any()) else losses.sum() * 0.0
