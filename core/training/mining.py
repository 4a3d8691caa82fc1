"""Online mining in a batch: which (anchor, positive, negative) triplets to learn from.

Miners only choose. Each is configured once (margin, distance) and, called on a batch's
embeddings and labels, returns index tensors computed without gradients; it never computes a
loss, so each can be checked alone against its definition. With margin alpha and d the
squared distance:

- batch-all: every valid triplet that still violates the margin, d(a,p) - d(a,n) + alpha > 0;
- batch-hard: per anchor, its farthest positive and its nearest negative;
- semi-hard (FaceNet): per anchor-positive pair, a negative farther than the positive but
  inside the margin, d(a,p) < d(a,n) < d(a,p) + alpha (the nearest such one);
- all pairs: every same-person pair and every different-person pair (for the pair loss).

Indices come in two shapes: triplets (a, p, n) and pairs (a1, p, a2, n), the positive pairs
(a1[i], p[i]) and the negative pairs (a2[j], n[j]). ``as_triplets`` and ``as_pairs`` turn
either shape (or None: everything in the batch) into the one a loss needs.
"""

from __future__ import annotations

import torch

from .config import MINING
from .distances import SquaredL2

Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Pairs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Indices = Triplets | Pairs


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) N x N masks: same person but not the same image; another person."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positive, ~same


def all_triplets(labels: torch.Tensor) -> Triplets:
    positive, negative = _masks(labels)
    return tuple(torch.nonzero(positive.unsqueeze(2) & negative.unsqueeze(1), as_tuple=True))


def all_pairs(labels: torch.Tensor) -> Pairs:
    """Each unordered pair once (i < j), split into same-person and different-person pairs."""
    first, second = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
    same = labels[first] == labels[second]
    return first[same], second[same], first[~same], second[~same]


def as_triplets(indices: Indices | None, labels: torch.Tensor) -> Triplets:
    """Triplets as given; pairs joined where a positive and a negative pair share the anchor."""
    if indices is None:
        return all_triplets(labels)
    if len(indices) == 3:
        return indices
    a1, p, a2, n = indices
    shared = a1.unsqueeze(1) == a2.unsqueeze(0)
    positive, negative = torch.nonzero(shared, as_tuple=True)
    return a1[positive], p[positive], n[negative]


def as_pairs(indices: Indices | None, labels: torch.Tensor) -> Pairs:
    """Pairs as given; triplets split into their (a, p) and (a, n) pairs."""
    if indices is None:
        return all_pairs(labels)
    if len(indices) == 4:
        return indices
    a, p, n = indices
    return a, p, a, n


class Miner:
    """Configured once; ``miner(embeddings, labels)`` -> index tensors, never a loss or a gradient."""

    def __init__(self, margin: float = 0.2, distance: SquaredL2 = SquaredL2()) -> None:
        if not margin > 0:
            raise ValueError("the margin alpha must be positive")
        self.margin = margin
        self.distance = distance

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Indices:
        if len(embeddings) != len(labels):
            raise ValueError(f"{len(embeddings)} embeddings but {len(labels)} labels")
        return self.mine(embeddings.detach(), labels)

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor) -> Indices:
        raise NotImplementedError


class BatchAllMiner(Miner):
    def mine(self, embeddings, labels) -> Triplets:
        d = self.distance.pairwise(embeddings)
        positive, negative = _masks(labels)
        valid = positive.unsqueeze(2) & negative.unsqueeze(1)  # [a, p, n]
        active = valid & (d.unsqueeze(2) - d.unsqueeze(1) + self.margin > 0)
        return tuple(torch.nonzero(active, as_tuple=True))


class BatchHardMiner(Miner):
    """The margin plays no part in choosing (it is accepted so every miner is built alike)."""

    def mine(self, embeddings, labels) -> Triplets:
        d = self.distance.pairwise(embeddings)
        positive, negative = _masks(labels)
        anchors = torch.nonzero(positive.any(1) & negative.any(1), as_tuple=True)[0]
        hardest_positive = d.masked_fill(~positive, float("-inf")).argmax(1)
        hardest_negative = d.masked_fill(~negative, float("inf")).argmin(1)
        return anchors, hardest_positive[anchors], hardest_negative[anchors]


class SemiHardMiner(Miner):
    def mine(self, embeddings, labels) -> Triplets:
        d = self.distance.pairwise(embeddings)
        positive, negative = _masks(labels)
        anchors, positives = torch.nonzero(positive, as_tuple=True)
        d_ap = d[anchors, positives].unsqueeze(1)
        d_an = d[anchors]
        window = negative[anchors] & (d_an > d_ap) & (d_an < d_ap + self.margin)
        has = window.any(1)
        nearest = d_an.masked_fill(~window, float("inf")).argmin(1)
        return anchors[has], positives[has], nearest[has]


class AllPairsMiner(Miner):
    """Every pair of the batch, for a loss that weighs all of them (the binary pair classifier)."""

    def mine(self, embeddings, labels) -> Pairs:
        return all_pairs(labels)


MINERS: dict[str, type[Miner]] = dict(zip(MINING, (SemiHardMiner, BatchHardMiner, BatchAllMiner)))
