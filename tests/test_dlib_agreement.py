"""Our chips and pipeline against dlib's: same network output, and close whole-pipeline vectors."""

from __future__ import annotations

import dlib
import numpy as np
import pytest

from core.bench import dlib_model_file
from core.vision.embed import distance
from core.vision.imaging import load_image


@pytest.fixture(scope="module")
def dlib_models():
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(dlib_model_file("shape_predictor_5_face_landmarks.dat"))),
        dlib.face_recognition_model_v1(str(dlib_model_file("dlib_face_recognition_resnet_model_v1.dat"))),
    )


@pytest.fixture(scope="module")
def ours_and_dlibs(pipeline, people, dlib_models):
    """photo -> (our largest face's result, the image), for every people photo."""
    found = {}
    for photos in people.values():
        for photo in photos:
            image = load_image(photo)
            found[photo] = (max(pipeline.analyse(image), key=lambda r: r.face.area), image)
    return found


def test_network_matches_dlib_on_our_chips(ours_and_dlibs, dlib_models):
    encoder = dlib_models[2]
    for photo, (result, _) in ours_and_dlibs.items():
        reference = np.array(encoder.compute_face_descriptor(result.chip))
        assert np.abs(result.embedding - reference).max() <= 1e-4, photo


@pytest.mark.slow
def test_whole_pipeline_stays_close_to_dlibs_own(ours_and_dlibs, dlib_models, pipeline):
    """dlib's detector, 5-point landmarks and chip vs ours: far below tau on every photo."""
    detector, predictor, encoder = dlib_models
    distances = []
    for photo, (result, image) in ours_and_dlibs.items():
        boxes = detector(image.pixels, 1)
        assert boxes, f"dlib found no face in {photo}"
        box = max(boxes, key=lambda b: b.area())
        reference = np.array(encoder.compute_face_descriptor(image.pixels, predictor(image.pixels, box)))
        distances.append(distance(result.embedding, reference))
    assert np.mean(distances) < 0.05 and max(distances) < pipeline.tau / 3, distances
