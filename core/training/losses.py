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
            return LossResult(embeddings.sum().abs() * 0.0, 0, 0)  # keeps the graph, adds nothing (+0.0, not -0.0)
        d_ap = self.distance.paired(embeddings[anchors], embeddings[positives])
        d_an = self.distance.paired(embeddings[anchors], embeddings[negatives])
        losses = (d_ap - d_an + self.margin).clamp_min(0.0)
        active = losses > 0
        count = int(active.sum())
        loss = losses[active].mean() if count else losses.sum() * 0.0
        return LossResult(loss, len(anchors), count)


class PairClassifierLoss(torch.nn.Module):
    """The binary alternative: a Siamese pair classifier on |f(a) - f(b)| (logistic, BCE).

    Every pair in the batch is a trial; the few same-person pairs are weighted up so both
    classes count equally. Its "active share" is the share of pairs on the wrong side. The
    runtime still decides with the squared distance and tau, recalibrated after training.
    """

    def __init__(self, dimensions: int) -> None:
        super().__init__()
        self.classifier = torch.nn.Linear(dimensions, 1)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
        first, second = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
        same = (labels[first] == labels[second]).float()
        logits = self.classifier((embeddings[first] - embeddings[second]).abs()).squeeze(1)
        positives = same.sum().clamp_min(1.0)
        weight = torch.where(same > 0, (len(same) - positives) / positives, torch.ones_like(same))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, same, weight=weight)
        wrong = ((logits > 0).float() != same).float().mean()
        return loss, float(wrong)
