"""How well descriptors tell people apart: verification ROC, AUC, TAR at FAR, one-shot rank-1.

Plain NumPy, so the command line and the GUI can show a model's figures without torch. Every
unordered pair of images is a verification trial (same person or not) decided by
d = ||f(a) - f(b)||^2 below a threshold; rank-1 enrols one image per person and identifies
the others, rotating which image is enrolled so every image serves once as the shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAR_TARGETS = (1e-2, 1e-3)
# The figures a before/after table shows, in order, with the words people read for them.
METRIC_LABELS = (("auc", "ROC AUC"), ("accuracy", "Accuracy (balanced, best threshold)"),
                 ("tar_at_far_1e-2", "TAR at FAR 1e-2"), ("tar_at_far_1e-3", "TAR at FAR 1e-3"),
                 ("rank1", "One-shot rank-1"), ("threshold", "Best threshold (tau)"))


@dataclass(frozen=True, eq=False)
class Roc:
    """Operating points, ascending threshold: accepting d <= threshold gives (far, tar)."""

    thresholds: np.ndarray
    far: np.ndarray
    tar: np.ndarray


@dataclass(frozen=True, eq=False)
class Evaluation:
    metrics: dict  # auc, accuracy, threshold, tar_at_far_1e-2, tar_at_far_1e-3, rank1, pairs
    roc: Roc


def squared_distances(embeddings: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, N) squared L2 distances, computed in float64 and clamped at 0."""
    x = np.asarray(embeddings, dtype=np.float64)
    norms = (x * x).sum(1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * x @ x.T, 0.0)


def pair_distances(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair: (distances, same_person)."""
    labels = np.asarray(labels)
    upper = np.triu_indices(len(labels), k=1)
    return squared_distances(embeddings)[upper], labels[upper[0]] == labels[upper[1]]


def roc_curve(distances: np.ndarray, same: np.ndarray) -> Roc:
    """TAR and FAR at every distinct distance taken as the threshold."""
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    positives, negatives = max(int(s.sum()), 1), max(int((~s).sum()), 1)
    last_of_value = np.r_[d[1:] != d[:-1], True]
    tar = np.cumsum(s)[last_of_value] / positives
    far = np.cumsum(~s)[last_of_value] / negatives
    return Roc(np.r_[0.0, d[last_of_value]], np.r_[0.0, far], np.r_[0.0, tar])


def auc(roc: Roc) -> float:
    return float(np.trapezoid(roc.tar, roc.far))


def tar_at_far(roc: Roc, target: float) -> float:
    """The best TAR with FAR at most ``target``."""
    return float(roc.tar[roc.far <= target].max())


def best_threshold(roc: Roc) -> tuple[float, float]:
    """(threshold, balanced accuracy) maximising (TAR + TNR) / 2.

    Balanced, because all pairs of a data set hold far more different-person pairs than
    same-person ones; plain accuracy would reward rejecting everyone. The threshold sits
    halfway to the next operating point, so neither neighbouring pair lies on it.
    """
    balanced = (roc.tar + 1.0 - roc.far) / 2.0
    best = int(np.argmax(balanced))
    upper = roc.thresholds[best + 1] if best + 1 < len(roc.thresholds) else roc.thresholds[best]
    return float((roc.thresholds[best] + upper) / 2.0), float(balanced[best])


def rank1_accuracy(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """One-shot identification: enrol the j-th image of each person, identify all the others."""
    labels = np.asarray(labels)
    people = np.unique(labels)
    members = [np.flatnonzero(labels == person) for person in people]
    shots = min(len(m) for m in members)
    distances = squared_distances(embeddings)
    correct = total = 0
    for j in range(shots):
        enrolled = np.array([m[j] for m in members])
        probes = np.setdiff1d(np.arange(len(labels)), enrolled)
        nearest = people[np.argmin(distances[np.ix_(probes, enrolled)], axis=1)]
        correct += int((nearest == labels[probes]).sum())
        total += len(probes)
    return correct / total if total else 0.0


def mean_triplet_loss(embeddings: np.ndarray, labels: np.ndarray, margin: float) -> float:
    """max(d(a,p) - d(a,n) + margin, 0) averaged over every valid triplet, zeros included.

    Unlike AUC it keeps moving when every pair is already on the right side: it says how much
    room the margin leaves, which is what early stopping needs on near-perfect data.
    """
    labels = np.asarray(labels)
    d = squared_distances(embeddings)
    same = labels[:, None] == labels[None, :]
    positive = same & ~np.eye(len(labels), dtype=bool)
    losses = np.maximum(d[:, :, None] - d[:, None, :] + margin, 0.0)  # [a, p, n]
    valid = positive[:, :, None] & ~same[:, None, :]
    return float(losses[valid].mean()) if valid.any() else 0.0


def evaluate(embeddings: np.ndarray, labels: np.ndarray) -> Evaluation:
    """The figures the training report and ``oneshot models`` show, for one set of descriptors."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("evaluation needs at least two people")
    distances, same = pair_distances(embeddings, labels)
    if not same.any():
        raise ValueError("evaluation needs at least one person with two images")
    roc = roc_curve(distances, same)
    threshold, accuracy = best_threshold(roc)
    metrics = {
        "auc": auc(roc),
        "accuracy": accuracy,
        "threshold": threshold,
        **{f"tar_at_far_{target:.0e}".replace("e-0", "e-"): tar_at_far(roc, target) for target in FAR_TARGETS},
        "rank1": rank1_accuracy(embeddings, labels),
        "pairs": {"same": int(same.sum()), "different": int((~same).sum())},
    }
    return Evaluation(metrics, roc)
