"""The losses, all called the same way: ``loss(embeddings, labels, indices=None) -> LossResult``.

A loss turns whatever indices it is given (a miner's triplets or pairs; None: everything in
the batch) into the shape it needs, computes one value per triplet or pair with a distance
object, and leaves the averaging to its reducer. Every loss reports the same two things: the
number to back-propagate and the share of triplets or pairs that are still active, the figure
that says whether training still finds work. ``objective`` is the one place that knows which
miner goes with which loss, so the trainer needs no branch on the loss type.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import TrainConfig
from .distances import SquaredL2
from .mining import MINERS, AllPairsMiner, Indices, Miner, as_pairs, as_triplets
from .reducers import MeanOverActive, MeanReducer


@dataclass(frozen=True)
class LossResult:
    loss: torch.Tensor  # a scalar on the graph
    active: int  # triplets with loss > 0; pairs on the wrong side
    total: int  # triplets or pairs the loss was given

    @property
    def active_share(self) -> float:
        return self.active / self.total if self.total else 0.0


class TripletLoss(torch.nn.Module):
    """L = max(d(A,P) - d(A,N) + alpha, 0) per triplet, averaged over the active ones."""

    def __init__(self, margin: float = 0.2, distance: SquaredL2 = SquaredL2(), reducer=None) -> None:
        super().__init__()
        if not margin > 0:
            raise ValueError("the margin alpha must be positive")
        self.margin = margin
        self.distance = distance
        self.reducer = reducer or MeanOverActive()

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None) -> LossResult:
        anchors, positives, negatives = as_triplets(indices, labels)
        d_ap = self.distance.paired(embeddings[anchors], embeddings[positives])
        d_an = self.distance.paired(embeddings[anchors], embeddings[negatives])
        losses = (d_ap - d_an + self.margin).clamp_min(0.0)
        return LossResult(self.reducer(losses), int((losses > 0).sum()), len(losses))


class PairClassifierLoss(torch.nn.Module):
    """The binary alternative: a Siamese pair classifier on |f(a) - f(b)| (logistic, BCE).

    Each pair is a trial; the same-person pairs, the few, are weighted up by negatives /
    positives so both classes count equally, and the reducer takes the mean over all pairs.
    Its active share is the share of pairs on the wrong side of the classifier. The runtime
    still decides with the squared distance and tau, recalibrated after training.
    """

    def __init__(self, dimensions: int, reducer=None, seed: int = 0) -> None:
        super().__init__()
        self.classifier = torch.nn.Linear(dimensions, 1)
        with torch.no_grad():  # Linear's own range, U(-1/sqrt(D), 1/sqrt(D)), drawn from the seed, not global state
            generator = torch.Generator().manual_seed(seed)
            for parameter in self.classifier.parameters():
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) / dimensions ** 0.5)
        self.reducer = reducer or MeanReducer()

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, indices: Indices | None = None) -> LossResult:
        a1, p, a2, n = as_pairs(indices, labels)
        first, second = torch.cat([a1, a2]), torch.cat([p, n])
        same = torch.cat([torch.ones_like(a1), torch.zeros_like(a2)]).to(embeddings.dtype)
        logits = self.classifier((embeddings[first] - embeddings[second]).abs()).squeeze(1)
        positives = max(len(a1), 1)
        weight = torch.where(same > 0, len(a2) / positives, 1.0)
        losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, same, weight=weight, reduction="none")
        wrong = int(((logits > 0).to(same.dtype) != same).sum())
        return LossResult(self.reducer(losses), wrong, len(losses))


def objective(config: TrainConfig, dimensions: int) -> tuple[Miner, torch.nn.Module]:
    """The miner and loss a training config names: the binary loss weighs every pair of the batch."""
    if config.loss == "binary":
        return AllPairsMiner(config.margin), PairClassifierLoss(dimensions, seed=config.seed)
    return MINERS[config.mining](config.margin), TripletLoss(config.margin)
