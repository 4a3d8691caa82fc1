"""``Outcome.recommended`` and its warning on verdicts computed from real evaluations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.evaluation import compare, evaluate, evaluate_shifted  # noqa: E402
from core.training.trainer import TrainState  # noqa: E402
from core.training.workflow import Outcome, Shifted  # noqa: E402

LABELS = np.repeat(np.arange(12), 4)


def descriptors(noise: float, seed: int) -> np.ndarray:
    """Twelve people, four images each, at ``noise`` around their centres (unit length)."""
    rng = np.random.default_rng(seed)
    points = np.repeat(np.random.default_rng(0).normal(size=(12, 16)), 4, axis=0) + noise * rng.normal(size=(48, 16))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_a_condition_that_got_worse_is_not_recommended_and_is_named():
    clean_before, clean_after = descriptors(1.0, 1), descriptors(0.2, 2)  # clean faces: clearly better
    before, after = evaluate(clean_before, LABELS), evaluate(clean_after, LABELS)
    clean = compare(before, after)
    masked_before = evaluate_shifted(clean_before, descriptors(0.3, 3), LABELS)
    masked_after = evaluate_shifted(clean_after, descriptors(1.5, 4), LABELS)  # masked faces: clearly worse
    masked = Shifted("mask", masked_before, masked_after, compare(masked_before, masked_after))
    assert (clean.word, masked.verdict.word) == ("better", "worse")

    def outcome(masked_view):
        return Outcome(None, before, after, 0.36, TrainState(), Path("run"), {}, clean, masked=masked_view)

    kept = outcome(masked)
    assert kept.worse == ["mask"] and not kept.recommended
    assert kept.warning().startswith("not recommended: masked faces of people it did not train on got worse (")
    document = kept.document()
    assert document["recommended"] is False and document["worse"] == ["mask"]
    assert document["masked"]["verdict"]["word"] == "worse"
    steady = Shifted("mask", masked_before, masked_before, compare(masked_before, masked_before))
    assert outcome(steady).recommended and outcome(steady).warning() is None  # only the worse condition vetoes
