"""Masked copies of each clear sample: painted without torch, stored with the sample, and what
lets a masked face be named at the strict masked-to-masked tau."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.activation import reembed_gallery
from core.live.enrol import enrol, prepare_candidate
from core.storage.repository import Gallery
from core.vision.imaging import LoadedImage, load_image
from core.vision.masks import MASK_STYLES, copies_model_id, copy_vectors, masked_copies
from core.live.match import Matcher
from core.training.conditions import mask_photo

# mask colours none of the copies has, so the copies are not simply the probes' own masks
PROBE_COLOURS = ((70, 110, 80), (180, 60, 70), (200, 180, 150), (95, 150, 200))


def test_copies_are_deterministic_masked_and_one_per_style(pipeline, people):
    chip = pipeline.analyse(load_image(people["barack_obama"][0]))[0].chip
    copies = masked_copies(np.stack([chip, chip]))
    assert copies.shape == (2 * len(MASK_STYLES), *chip.shape) and copies.dtype == np.uint8
    assert np.array_equal(copies, masked_copies(chip[None].repeat(2, 0)))
    assert (pipeline.occlusion.covered(copies) >= pipeline.occlusion.threshold).all()
    assert np.array_equal(copies[0][:40], chip[:40])  # the eyes and above stay as they were
    assert copy_vectors(pipeline.embed, chip[None]).shape == (1, 128)


@pytest.fixture
def enrolled(pipeline, people, tmp_path):
    """A gallery with photo 1 of each person of people/, enrolled as the app does."""
    gallery = Gallery(tmp_path / "g.db")
    matcher = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau, condition_taus=pipeline.condition_taus)
    for name, photos in people.items():
        enrol(gallery, matcher, name, prepare_candidate(pipeline, load_image(photos[0])), pipeline.embedder.duplicate_tau,
              force=True)
    yield gallery, matcher
    gallery.close()


def masked_probes(pipeline, people):
    for name, photos in people.items():
        for number, photo in enumerate(photos[1:]):
            image = load_image(photo)
            face = max(pipeline.detect(image.pixels), key=lambda f: f.area)
            pixels = mask_photo(image.pixels, face, PROBE_COLOURS[number % len(PROBE_COLOURS)])
            found = pipeline.analyse(LoadedImage(pixels, str(photo), pixels.shape[1::-1], 1.0))
            if found:
                yield name, max(found, key=lambda r: r.face.area)


def test_enrolment_stores_the_copies_and_reembed_rebuilds_them(pipeline, enrolled):
    gallery, _ = enrolled
    model = pipeline.embedder.spec.id
    copies = gallery.vectors(copies_model_id(model))
    assert copies.names == gallery.vectors(model).names and len(copies.owners) == len(gallery.samples())
    gallery.store_embeddings(copies_model_id(model), {}, complete=True)  # as a gallery enrolled before copies
    assert not len(gallery.vectors(copies_model_id(model)).owners)
    reembed_gallery(gallery, pipeline.embedder, only_missing=False)
    assert len(gallery.vectors(copies_model_id(model)).owners) == len(gallery.samples())


def test_masked_faces_are_named_more_often_and_never_wrongly(pipeline, people, enrolled):
    gallery, matcher = enrolled
    probes = list(masked_probes(pipeline, people))
    assert probes and all(result.condition.masked for _, result in probes)

    def outcome():
        matches = [matcher.match(result.embedding[None], [result.condition])[0] for _, result in probes]
        return (sum(m.name == name for (name, _), m in zip(probes, matches)),
                sum(m.name not in (None, name) for (name, _), m in zip(probes, matches)))

    right, wrong = outcome()
    gallery.store_embeddings(copies_model_id(pipeline.embedder.spec.id), {}, complete=True)
    right_without, wrong_without = outcome()
    assert wrong == wrong_without == 0
    assert right > right_without, (right, right_without)
