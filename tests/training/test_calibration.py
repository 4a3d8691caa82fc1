"""``conditions.calibrate``: a condition's tau is never laxer than the clear tau it is measured against."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.training.conditions import calibrate  # noqa: E402


def test_no_condition_tau_exceeds_a_clear_tau_between_two_steps():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 3)
    faces = rng.integers(0, 256, size=(4, 1, 30, 30, 3))
    chips = np.repeat(faces, 3, axis=1).reshape(12, 30, 30, 3)
    chips = np.clip(chips + rng.integers(-8, 9, size=chips.shape), 0, 255).astype(np.uint8)
    gallery = np.arange(12) % 3 == 0

    def embed(batch: np.ndarray) -> np.ndarray:  # a coarse colour layout: far apart for different people
        coarse = batch.reshape(len(batch), 3, 10, 3, 10, 3).mean((2, 4)).reshape(len(batch), -1)
        return coarse / np.linalg.norm(coarse, axis=1, keepdims=True)

    result = calibrate(embed, chips, labels, gallery, 0.363)  # 0.365 is nearer than 0.360 but above it
    taus = {name: value["tau"] for name, value in result.items() if isinstance(value, dict)}
    assert taus["clear"] == 0.363 and all(0.0 <= tau <= 0.363 for tau in taus.values()), taus
