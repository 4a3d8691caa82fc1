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
    distances: np.ndarray | None = None  # every unordered pair's d, in ``pair_distances`` order
    same: np.ndarray | None = None  # whether each of those pairs is one person


VERDICTS = ("better", "worse", "no measurable change")
VERDICT_METRICS = ("tar_at_far_1e-2", "auc")


@dataclass(frozen=True)
class Verdict:
    """After vs before on the same pairs: the word, the measured difference and its interval."""

    word: str  # one of VERDICTS
    metric: str
    difference: float  # after - before on all the pairs
    low: float  # the bootstrap interval of that difference
    high: float
    confidence: float
    rounds: int

    def sentence(self) -> str:
        label = dict(METRIC_LABELS).get(self.metric, self.metric)
        return (f"{self.word}: {label} {self.difference:+.4f} (after - before; {self.confidence:.0%} interval "
                f"{self.low:+.4f} to {self.high:+.4f} over {self.rounds} resamplings of the held-out pairs)")

    def public(self) -> dict:
        return {"word": self.word, "metric": self.metric, "difference": round(self.difference, 6),
                "low": round(self.low, 6), "high": round(self.high, 6), "confidence": self.confidence,
                "rounds": self.rounds}


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


def cross_squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D), (M, D) -> (N, M) squared L2 distances, float64, clamped at 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def rank1_accuracy(embeddings: np.ndarray, labels: np.ndarray, probes: np.ndarray | None = None) -> float:
    """One-shot identification: enrol the j-th image of each person, identify all the others.

    With ``probes`` (descriptors of the same images seen differently: masked, grey, small) the
    enrolled image is taken from ``embeddings`` and the others are identified from ``probes``.
    """
    labels = np.asarray(labels)
    people = np.unique(labels)
    members = [np.flatnonzero(labels == person) for person in people]
    shots = min(len(m) for m in members)
    distances = squared_distances(embeddings) if probes is None else cross_squared_distances(probes, embeddings)
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
    return _figures(distances, same, lambda: rank1_accuracy(embeddings, labels))


def evaluate_shifted(clean: np.ndarray, shifted: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Enrolled clean, seen shifted: the figures of ``evaluate`` over trials that pair image i's
    clean descriptor with image j's shifted one (every ordered i != j), and rank-1 with the clean
    image of each person enrolled and the shifted others identified. This is the user's case:
    people enrolled without a mask (in colour, close up) and seen with one (grey, far away).
    """
    labels = np.asarray(labels)
    clean, shifted = np.asarray(clean), np.asarray(shifted)
    if clean.shape != shifted.shape or len(clean) != len(labels):
        raise ValueError("clean and shifted descriptors must be of the same images")
    if len(np.unique(labels)) < 2:
        raise ValueError("evaluation needs at least two people")
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    distances = cross_squared_distances(clean, shifted)[off_diagonal]
    same = (labels[:, None] == labels[None, :])[off_diagonal]
    return _figures(distances, same, lambda: rank1_accuracy(clean, labels, probes=shifted))


def _figures(distances: np.ndarray, same: np.ndarray, rank1) -> Evaluation:
    """ROC, accuracy, TAR at each FAR target and rank-1 (``rank1()``) for one set of trials."""
    if not same.any():
        raise ValueError("evaluation needs at least one person with two images")
    roc = roc_curve(distances, same)
    threshold, accuracy = best_threshold(roc)
    metrics = {
        "auc": auc(roc),
        "accuracy": accuracy,
        "threshold": threshold,
        **{f"tar_at_far_{target:.0e}".replace("e-0", "e-"): tar_at_far(roc, target) for target in FAR_TARGETS},
        "rank1": rank1(),
        "pairs": {"same": int(same.sum()), "different": int((~same).sum())},
    }
    return Evaluation(metrics, roc, distances, same)


def _pair_metric(distances: np.ndarray, same: np.ndarray, metric: str) -> float:
    if metric == "auc":
        return auc(roc_curve(distances, same))
    return _tar_at_far_fast(distances[same], distances[~same], 1e-2)


def _tar_at_far_fast(positives: np.ndarray, negatives: np.ndarray, target: float) -> float:
    """``tar_at_far`` without sorting: at most m = floor(target * negatives) negatives may be
    accepted, so the threshold stays below the (m+1)-th smallest negative distance."""
    allowed = int(np.floor(target * len(negatives) + 1e-9))
    if allowed >= len(negatives):
        return 1.0
    first_refused = np.partition(negatives, allowed)[allowed]
    return float((positives < first_refused).mean())


def verdict(before_scores: np.ndarray, after_scores: np.ndarray, same: np.ndarray, metric: str = "tar_at_far_1e-2",
            rounds: int = 1000, confidence: float = 0.95, seed: int = 0) -> Verdict:
    """"better", "worse" or "no measurable change" for two models' distances on the same pairs.

    A paired bootstrap: each round draws the held-out pairs with replacement (the same draw for
    both models) and takes the metric's difference after - before. "better" (or "worse") only
    when the whole ``confidence`` interval of that difference lies above (below) zero, so a
    gain of a few pairs that resampling also produces is "no measurable change". Pairs share
    images, so the interval is, if anything, too narrow: a verdict errs on the hopeful side
    only when the gain is already larger than the resampling spread.
    """
    before = np.asarray(before_scores, dtype=np.float64)
    after = np.asarray(after_scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if metric not in VERDICT_METRICS:
        raise ValueError(f"metric must be one of {', '.join(VERDICT_METRICS)}")
    if not (before.shape == after.shape == same.shape) or before.ndim != 1:
        raise ValueError("before, after and same must be one score per pair, the same pairs for both")
    if not same.any() or same.all():
        raise ValueError("a verdict needs both same-person and different-person pairs")
    if rounds < 1 or not 0.0 < confidence < 1.0:
        raise ValueError("rounds must be positive and confidence between 0 and 1")
    difference = _pair_metric(after, same, metric) - _pair_metric(before, same, metric)
    rng = np.random.default_rng(seed)
    # resample positives and negatives separately, so every round keeps both kinds of pair
    positives, negatives = np.flatnonzero(same), np.flatnonzero(~same)
    spread = np.empty(rounds)
    for i in range(rounds):
        draw = np.concatenate([rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))])
        spread[i] = _pair_metric(after[draw], same[draw], metric) - _pair_metric(before[draw], same[draw], metric)
    tail = (1.0 - confidence) / 2.0
    low, high = (float(v) for v in np.quantile(spread, [tail, 1.0 - tail]))
    word = "better" if low > 0 else "worse" if high < 0 else "no measurable change"
    return Verdict(word, metric, float(difference), low, high, confidence, rounds)


def compare(before: Evaluation, after: Evaluation, metric: str = "tar_at_far_1e-2", rounds: int = 1000,
            seed: int = 0) -> Verdict:
    """``verdict`` for two evaluations of the same held-out chips."""
    if before.distances is None or after.distances is None:
        raise ValueError("both evaluations must carry their pair distances")
    if not np.array_equal(before.same, after.same):
        raise ValueError("before and after were not evaluated on the same pairs")
    return verdict(before.distances, after.distances, before.same, metric, rounds, seed=seed)
