"""The synthetic presentation-attack renderer (tests/attacks.py), and the shipped liveness model on it.

Rates on everything (all shared photos, several seeds, per-face quantiles):
``python -m pytest tests/benchmarks/test_liveness.py --benchmark-only -s``.
"""

from __future__ import annotations

import numpy as np
import pytest

from attacks import ATTACKS, FRAME, bona_fide_frame
from core.vision.imaging import load_image
from core.vision.liveness import LIVE_THRESHOLD

RENDERERS = {"bona fide": bona_fide_frame, **ATTACKS}
# Measured on the people/ photos, seed 0 (print and screen one frame each): 1 of 30 judged live
# (3%); with four seeds over every shared photo (the benchmark) 12 of 167 (7%). The bound leaves margin.
MAX_APCER = 0.2


@pytest.fixture(scope="module")
def photo(people):
    return load_image(people["barack_obama"][0]).pixels


@pytest.mark.parametrize("kind", RENDERERS)
def test_a_seed_renders_the_same_frame_and_another_seed_another(kind, photo):
    render = RENDERERS[kind]
    first = render(photo, np.random.default_rng(7))
    assert first.shape == (FRAME[1], FRAME[0], 3) and first.dtype == np.uint8
    assert np.array_equal(first, render(photo, np.random.default_rng(7)))
    assert not np.array_equal(first, render(photo, np.random.default_rng(8)))


def test_a_bona_fide_frame_is_cropped_not_letterboxed(pipeline, photo):
    face = pipeline.detect(photo)[0]
    frame = bona_fide_frame(photo, np.random.default_rng(0), face.box)
    assert frame[:4].mean() > 20 and frame[-4:].mean() > 20
    assert frame[:, :4].mean() > 20 and frame[:, -4:].mean() > 20
    assert len(pipeline.detect(frame)) == 1


@pytest.mark.slow
def test_the_shipped_model_flags_most_rendered_attacks_and_passes_the_live_sample(pipeline, people, data_dir):
    live = load_image(data_dir / "liveness" / "image_T1.jpg").pixels
    assert pipeline.live_scores(live, pipeline.detect(live))[0] >= LIVE_THRESHOLD
    judged_live, seen = {kind: 0 for kind in ATTACKS}, {kind: 0 for kind in ATTACKS}
    for index, path in enumerate(p for photos in people.values() for p in photos):
        pixels = load_image(path).pixels
        box = max(pipeline.detect(pixels), key=lambda f: f.area).box
        for kind, render in ATTACKS.items():
            frame = render(pixels, np.random.default_rng([index, 0]), box)
            faces = pipeline.detect(frame)
            if not faces:
                continue
            seen[kind] += 1
            judged_live[kind] += bool(pipeline.live_scores(frame, [max(faces, key=lambda f: f.area)])[0] >= LIVE_THRESHOLD)
    assert all(count >= 10 for count in seen.values()), f"too few attacks with a face found: {seen}"
    apcer = sum(judged_live.values()) / sum(seen.values())
    print(f"rendered attacks judged live: {judged_live} of {seen}")
    assert apcer <= MAX_APCER, f"APCER {apcer:.0%} ({judged_live} of {seen})"
