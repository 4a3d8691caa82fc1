"""Online triplet mining in a batch: which (anchor, positive, negative) triplets to learn from.

Miners only choose: they return index tensors (a, p, n) computed without gradients and never
compute a loss, so each can be checked alone against its definition. With margin alpha and
d the squared distance:

- batch-all: every valid triplet that still violates the margin, d(a,p) - d(a,n) + alpha > 0;
- batch-hard: per anchor, its farthest positive and its nearest negative;
- semi-hard (FaceNet): per anchor-positive pair, a negative farther than the positive but
  inside the margin, d(a,p) < d(a,n) < d(a,p) + alpha (the nearest such one).
"""

from __future__ import annotations

import torch

from .config import MINING
from .distances import SquaredL2

Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positive, ~same


@torch.no_grad()
def batch_all(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
              distance: SquaredL2 = SquaredL2()) -> Triplets:
    d = distance.pairwise(embeddings)
    positive, negative = _masks(labels)
    valid = positive.unsqueeze(2) & negative.unsqueeze(1)  # [a, p, n]
    active = valid & (d.unsqueeze(2) - d.unsqueeze(1) + margin > 0)
    return tuple(torch.nonzero(active, as_tuple=True))


@torch.no_grad()
def batch_hard(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.0,  # margin: same signature as the others
               distance: SquaredL2 = SquaredL2()) -> Triplets:
    d = distance.pairwise(embeddings)
    positive, negative = _masks(labels)
    usable = positive.any(1) & negative.any(1)
    anchors = torch.nonzero(usable, as_tuple=True)[0]
    hardest_positive = d.masked_fill(~positive, float("-inf")).argmax(1)
    hardest_negative = d.masked_fill(~negative, float("inf")).argmin(1)
    return anchors, hardest_positive[anchors], hardest_negative[anchors]


@torch.no_grad()
def semi_hard(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
              distance: SquaredL2 = SquaredL2()) -> Triplets:
    d = distance.pairwise(embeddings)
    positive, negative = _masks(labels)
    anchors, positives = torch.nonzero(positive, as_tuple=True)
    d_ap = d[anchors, positives].unsqueeze(1)
    d_an = d[anchors]
    window = negative[anchors] & (d_an > d_ap) & (d_an < d_ap + margin)
    has = window.any(1)
    nearest = d_an.masked_fill(~window, float("inf")).argmin(1)
    return anchors[has], positives[has], nearest[has]


MINERS = dict(zip(MINING, (semi_hard, batch_hard, batch_all)))
