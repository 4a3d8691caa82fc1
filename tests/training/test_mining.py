"""Miners pick exactly the triplets their definitions say (checked against brute-force loops)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.vision.imaging import load_image  # noqa: E402
from core.models.registry import find_model  # noqa: E402
from core.training.losses import TripletLoss  # noqa: E402
from core.training.mining import (  # noqa: E402
    AllPairsMiner,
    BatchAllMiner,
    BatchHardMiner,
    SemiHardMiner,
    all_pairs,
    all_triplets,
    as_pairs,
    as_triplets,
)
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
    assert as_set(BatchAllMiner(MARGIN)(points, labels)) == expected
    assert expected  # the hand-made batch does have some


def test_batch_hard_is_farthest_positive_and_nearest_negative(batch):
    points, labels = batch
    expected = set()
    for a in range(len(labels)):
        positives = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
        expected.add((a, max(positives, key=lambda p: d(points, a, p)), min(negatives, key=lambda n: d(points, a, n))))
    assert as_set(BatchHardMiner()(points, labels)) == expected


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
    assert as_set(SemiHardMiner(MARGIN)(points, labels)) == expected


def test_all_triplets_and_all_pairs_are_every_valid_one(batch):
    points, labels = batch
    assert as_set(all_triplets(labels)) == set(triples(points, labels))
    a1, p, a2, n = all_pairs(labels)
    assert set(zip(a1.tolist(), p.tolist())) == {(i, j) for i, j in itertools.combinations(range(6), 2)
                                                 if labels[i] == labels[j]}
    assert set(zip(a2.tolist(), n.tolist())) == {(i, j) for i, j in itertools.combinations(range(6), 2)
                                                 if labels[i] != labels[j]}
    assert as_set(AllPairsMiner()(points, labels)) == as_set(all_pairs(labels))


def test_index_shapes_convert_both_ways(batch):
    points, labels = batch
    triplets = BatchAllMiner(MARGIN)(points, labels)
    assert as_triplets(triplets, labels) is triplets
    a1, p, a2, n = as_pairs(triplets, labels)
    assert torch.equal(a1, a2) and torch.equal(p, triplets[1]) and torch.equal(n, triplets[2])
    # pairs -> triplets: every positive pair joined with every negative pair of the same anchor
    pairs = all_pairs(labels)
    joined = {(a, pos, neg) for a, pos in zip(pairs[0].tolist(), pairs[1].tolist())
              for a_, neg in zip(pairs[2].tolist(), pairs[3].tolist()) if a == a_}
    assert as_set(as_triplets(pairs, labels)) == joined


def test_miners_return_indices_without_gradient_and_check_their_input(batch):
    points, labels = batch
    points = points.clone().requires_grad_(True)
    for miner in (BatchAllMiner(MARGIN), BatchHardMiner(), SemiHardMiner(MARGIN), AllPairsMiner()):
        indices = miner(points, labels)
        assert all(t.dtype == torch.long and not t.requires_grad for t in indices), type(miner).__name__
    with pytest.raises(ValueError):
        SemiHardMiner(0.0)
    with pytest.raises(ValueError, match="labels"):
        BatchAllMiner(MARGIN)(points, labels[:-1])


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
    loss_fn, miner = TripletLoss(margin=0.6), BatchAllMiner(0.6)
    losses = []
    for _ in range(4):
        embeddings = net(batch)
        result = loss_fn(embeddings, labels, miner(embeddings, labels))
        optimiser.zero_grad()
        result.loss.backward()
        optimiser.step()
        losses.append(result.loss.item())
    assert losses[0] > 0 and losses[-1] < losses[0], losses
