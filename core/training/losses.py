"""The triplet loss L = max(d(A,P) - d(A,N) + alpha, 0), on whatever triplets it is given.

The loss turns index triplets (from a miner) into one number: the mean over the triplets that
are still active (loss > 0), as FaceNet and pytorch-metric-learning average. It also reports
the share of active triplets, the figure that says whether mining still finds work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .distances import SquaredL2


@dataclass(frozen=True)
class LossResult:
    loss: torch.Tensor
    triplets: int
    active: int

    @property
    def active_share(self) -> float:
        return self.active / self.triplets if self.triplets else 0.0


class TripletLoss:
    def __init__(self, margin: float = 0.2, distance: SquaredL2 = SquaredL2()) -> None:
        if not margin > 0:
            raise ValueError("the margin alpha must be positive")
        self.margin = margin
        self.distance = distance

    def __call__(self, embeddings: torch.Tensor, triplets) -> LossResult:
        anchors, positives, negatives = triplets
        if len(anchors) == 0:
            return LossResult(embeddings.sum() * 0.0, 0, 0)  # keeps the graph, contributes nothing
        d_ap = self.distance.paired(embeddings[anchors], embeddings[positives])
        d_an = self.distance.paired(embeddings[anchors], embeddings[negatives])
        losses = (d_ap - d_an + self.margin).clamp_min(0.0)
        active = losses > 0
        count = int(active.sum())
        loss = losses[active].mean() if count else losses.sum() * 0.0
        return LossResult(loss, len(anchors), count)
