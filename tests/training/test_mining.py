"""Miners pick exactly the triplets their definitions say; the loss goes down when trained on."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.imaging import load_image  # noqa: E402
from core.models import find_model  # noqa: E402
from core.training.losses import TripletLoss  # noqa: E402
from core.training.mining import batch_all, batch_hard, semi_hard  # noqa: E402
from core.training.network import OnnxEmbeddingNet  # noqa: E402

MARGIN = 0.5


@pytest.fixture
def batch():
    """Six points on a line, three people; distances are easy to work out by hand."""
    points = torch.tensor([[0.0], [0.6], [1.0], [1.3], [3.0], [3.2]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    return points, labels


def d(points, i, j) -> float:
    return float((points[i] - points[j]).pow(2).sum())


def triples(points, labels):
    for a, p, n in itertools.product(range(len(labels)), repeat=3):
        if a != p and labels[a] == labels[p] and labels[a] != labels[n]:
            yield a, p, n


def as_set(triplets) -> set:
    return set(zip(*(t.tolist() for t in triplets)))


def test_batch_all_is_every_violating_triplet(batch):
    points, labels = batch
    expected = {(a, p, n) for a, p, n in triples(points, labels) if d(points, a, p) - d(points, a, n) + MARGIN > 0}
    assert as_set(batch_all(points, labels, MARGIN)) == expected
    assert expected  # the hand-made batch does have some


def test_batch_hard_is_farthest_positive_and_nearest_negative(batch):
    points, labels = batch
    expected = set()
    for a in range(len(labels)):
        positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        expected.add((a, max(positives, key=lambda p: d(points, a, p)), min(negatives, key=lambda n: d(points, a, n))))
    assert as_set(batch_hard(points, labels)) == expected


def test_semi_hard_is_the_nearest_negative_inside_the_margin(batch):
    points, labels = batch
    expected = set()
    for a, p in itertools.permutations(range(len(labels)), 2):
        if labels[a] != labels[p]:
            continue
        window = [n for n in range(len(labels)) if labels[n] != labels[a]
                  and d(points, a, p) < d(points, a, n) < d(points, a, p) + MARGIN]
        if window:
            expected.add((a, p, min(window, key=lambda n: d(points, a, n))))
    assert as_set(semi_hard(points, labels, MARGIN)) == expected


def test_loss_counts_active_triplets(batch):
    points, labels = batch
    result = TripletLoss(MARGIN)(points, batch_hard(points, labels))
    values = [max(d(points, a, p) - d(points, a, n) + MARGIN, 0) for a, p, n in as_set(batch_hard(points, labels))]
    active = [v for v in values if v > 0]
    assert result.triplets == 6 and result.active == len(active)
    assert float(result.loss) == pytest.approx(np.mean(active))
    with pytest.raises(ValueError):
        TripletLoss(0.0)


def test_loss_goes_down_on_a_fixed_batch(pipeline, data_dir):
    """A few SGD steps of the real network on 4 ORL people x 2 images."""
    chips, labels = [], []
    for person in range(1, 5):
        for image in (1, 2):
            loaded = load_image(data_dir / "orl" / f"s{person}" / f"{image}.pgm")
            chips.append(pipeline.align(loaded.pixels, pipeline.detect(loaded.pixels)[:1])[0])
            labels.append(person)
    batch = torch.from_numpy(np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32))
    labels = torch.tensor(labels)
    torch.manual_seed(0)
    net = OnnxEmbeddingNet.from_file(find_model("embed").path)
    optimiser = torch.optim.SGD(net.parameters(), lr=1e-3)
    loss_fn = TripletLoss(margin=0.6)
    losses = []
    for _ in range(4):
        embeddings = net(batch)
        result = loss_fn(embeddings, batch_all(embeddings, labels, 0.6))
        optimiser.zero_grad()
        result.loss.backward()
        optimiser.step()
        losses.append(result.loss.item())
    assert losses[0] > 0 and losses[-1] < losses[0], losses
