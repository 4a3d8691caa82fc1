"""Every loss is called alike and gives one result type; values match loops over the definitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.evaluation import mean_triplet_loss  # noqa: E402
from core.training.config import MINING, TrainConfig  # noqa: E402
from core.training.losses import LossResult, PairClassifierLoss, TripletLoss, objective  # noqa: E402
from core.training.mining import MINERS, AllPairsMiner, BatchHardMiner, all_pairs  # noqa: E402
from core.training.reducers import MeanOverActive, MeanReducer  # noqa: E402

MARGIN = 0.5


@pytest.fixture
def batch():
    points = torch.tensor([[0.0, 0.1], [0.6, 0.0], [1.0, 0.2], [1.3, 0.1], [3.0, 0.0], [3.2, 0.3]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    return points, labels


def d(points, i, j) -> float:
    return float((points[i] - points[j]).pow(2).sum())


def every_triplet(labels):
    n = len(labels)
    return [(a, p, q) for a, p, q in itertools.product(range(n), repeat=3)
            if a != p and labels[a] == labels[p] and labels[a] != labels[q]]


def test_reducers_average_all_or_only_the_active():
    losses = torch.tensor([0.0, 2.0, 0.0, 4.0])
    assert float(MeanReducer()(losses)) == pytest.approx(1.5)
    assert float(MeanOverActive()(losses)) == pytest.approx(3.0)
    for reducer in (MeanReducer(), MeanOverActive()):
        empty = reducer(torch.zeros(0))
        assert float(empty) == 0.0 and math.copysign(1.0, float(empty)) == 1.0
        none_active = reducer(torch.zeros(3))
        assert float(none_active) == 0.0


def test_triplet_loss_on_mined_triplets_is_the_mean_over_active_ones(batch):
    points, labels = batch
    triplets = BatchHardMiner()(points, labels)
    result = TripletLoss(MARGIN)(points, labels, triplets)
    values = [max(d(points, a, p) - d(points, a, n) + MARGIN, 0.0) for a, p, n in zip(*(t.tolist() for t in triplets))]
    active = [v for v in values if v > 0]
    assert isinstance(result, LossResult)
    assert (result.total, result.active) == (6, len(active)) and result.active_share == len(active) / 6
    assert result.loss.item() == pytest.approx(np.mean(active))
    with pytest.raises(ValueError):
        TripletLoss(0.0)


def test_triplet_loss_without_indices_takes_every_triplet_and_a_mean_reducer_matches_evaluation(batch):
    points, labels = batch
    values = [max(d(points, a, p) - d(points, a, n) + MARGIN, 0.0) for a, p, n in every_triplet(labels.tolist())]
    result = TripletLoss(MARGIN)(points, labels)
    assert result.total == len(values) and result.active == sum(v > 0 for v in values)
    assert result.loss.item() == pytest.approx(np.mean([v for v in values if v > 0]))
    over_all = TripletLoss(MARGIN, reducer=MeanReducer())(points, labels)
    assert over_all.loss.item() == pytest.approx(mean_triplet_loss(points.numpy(), labels.numpy(), MARGIN), rel=1e-5)


def test_no_triplets_is_a_zero_step_that_still_back_propagates(batch):
    points, labels = batch
    points = points.clone().requires_grad_(True)
    empty = tuple(torch.zeros(0, dtype=torch.long) for _ in range(3))
    result = TripletLoss(MARGIN)(points, labels, empty)
    assert result.loss.item() == 0.0 and result.active_share == 0.0 and result.total == 0
    result.loss.backward()
    assert points.grad is not None and float(points.grad.abs().sum()) == 0.0


def test_pair_loss_is_the_class_balanced_cross_entropy_over_every_pair(batch):
    points, labels = batch
    loss = PairClassifierLoss(2)
    assert torch.equal(loss.classifier.weight, PairClassifierLoss(2).classifier.weight), "seeded, not global state"
    result = loss(points, labels)
    weight, bias = loss.classifier.weight.detach()[0], float(loss.classifier.bias.detach()[0])
    pairs = list(itertools.combinations(range(len(labels)), 2))
    same = [int(labels[i] == labels[j]) for i, j in pairs]
    positives, negatives = sum(same), len(same) - sum(same)
    terms, wrong = [], 0
    for (i, j), y in zip(pairs, same):
        z = float((points[i] - points[j]).abs() @ weight) + bias
        probability = 1 / (1 + math.exp(-z))
        cost = -(y * math.log(probability) + (1 - y) * math.log(1 - probability))
        terms.append(cost * (negatives / positives if y else 1.0))
        wrong += int((z > 0) != bool(y))
    assert isinstance(result, LossResult)
    assert result.total == len(pairs) and result.active == wrong
    assert result.loss.item() == pytest.approx(np.mean(terms), rel=1e-5)
    mined = loss(points, labels, AllPairsMiner()(points, labels))
    assert mined.loss.item() == pytest.approx(result.loss.item(), rel=1e-6)


def test_pair_loss_takes_triplets_as_their_two_pairs(batch):
    points, labels = batch
    loss = PairClassifierLoss(2)
    triplets = BatchHardMiner()(points, labels)
    a, p, n = triplets
    assert loss(points, labels, triplets).total == 2 * len(a)
    assert loss(points, labels, triplets).loss.item() == pytest.approx(loss(points, labels, (a, p, a, n)).loss.item())


def test_objective_pairs_each_loss_with_its_miner_and_both_train_alike(batch):
    points, labels = batch
    for mining in MINING:
        miner, loss = objective(TrainConfig(mining=mining, margin=MARGIN), dimensions=2)
        assert isinstance(miner, MINERS[mining]) and miner.margin == MARGIN and isinstance(loss, TripletLoss)
    miner, loss = objective(TrainConfig(loss="binary"), dimensions=2)
    assert isinstance(miner, AllPairsMiner) and isinstance(loss, PairClassifierLoss)
    assert [len(t) for t in miner(points, labels)] == [len(t) for t in all_pairs(labels)]
    for config in (TrainConfig(mining="batch-all", margin=MARGIN), TrainConfig(loss="binary")):
        miner, loss = objective(config, dimensions=2)
        embeddings = points.clone().requires_grad_(True)
        result = loss(embeddings, labels, miner(embeddings, labels))  # the trainer's one line
        result.loss.backward()
        assert result.loss.ndim == 0 and 0.0 <= result.active_share <= 1.0 and embeddings.grad is not None
