"""Training data from folders: every usable face in, every unusable file reported with its reason."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from core.errors import TrainingDataError
from core.training.data import chips_from_folder, chips_from_gallery, split_by_identity
from core.training.sampler import PKSampler


class CountingPipeline:
    """The real pipeline, counting detector calls (to see the cache at work)."""

    def __init__(self, pipeline):
        self.inner = pipeline
        self.detector, self.embedder, self.calls = pipeline.detector, pipeline.embedder, 0

    def detect(self, pixels):
        self.calls += 1
        return self.inner.detect(pixels)

    def align(self, pixels, faces):
        return self.inner.align(pixels, faces)


def test_folder_becomes_labelled_chips_and_is_cached(orl_folder, pipeline, tmp_path):
    root = orl_folder([1, 2, 3], images=3)
    counting = CountingPipeline(pipeline)
    data = chips_from_folder(root, counting, crops=True, cache_dir=tmp_path / "cache")
    assert data.names == ["s1", "s2", "s3"] and data.counts() == {"s1": 3, "s2": 3, "s3": 3}
    assert data.chips.shape == (9, 150, 150, 3) and data.chips.dtype == np.uint8
    assert counting.calls >= 9
    calls = counting.calls
    again = chips_from_folder(root, counting, crops=True, cache_dir=tmp_path / "cache")
    assert counting.calls == calls, "the second read should come from the cache"
    assert np.array_equal(again.chips, data.chips) and np.array_equal(again.labels, data.labels)
    (root / "s1" / "1.pgm").write_bytes((root / "s2" / "1.pgm").read_bytes())  # a changed file: read again
    chips_from_folder(root, counting, crops=True, cache_dir=tmp_path / "cache")
    assert counting.calls > calls


def test_unusable_files_and_people_are_reported(orl_folder, pipeline, tmp_path, data_dir):
    root = orl_folder([1, 2, 3], images=2)
    (root / "s1" / "notes.txt").write_text("not an image")
    (root / "s2" / "empty.jpg").write_bytes(b"")
    (root / "s3" / "2.pgm").unlink()  # s3 keeps one photo
    (root / "landscape").mkdir()
    shutil.copy(data_dir / "scenes" / "two_people.jpg", root / "landscape" / "two.jpg")
    data = chips_from_folder(root, pipeline, cache_dir=tmp_path / "cache")
    reasons = dict(data.skipped)
    assert reasons["s1/notes.txt"].startswith("unreadable")
    assert reasons["s2/empty.jpg"].startswith("unreadable")
    assert reasons["landscape/two.jpg"] == "2 faces (one expected)"
    usable = data.trainable()
    assert usable.names == ["s1", "s2"]
    assert dict(usable.skipped)["s3"].startswith("only one usable image")
    assert usable.summary()["skipped"] == {"unreadable": 2, "2 faces (one expected)": 1, "only one usable image (a person needs two to form a positive pair)": 1}


def test_empty_and_one_person_folders_are_refused(tmp_path, orl_folder, pipeline):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingDataError, match="no person folders"):
        chips_from_folder(empty, pipeline, cache_dir=tmp_path / "cache")
    with pytest.raises(TrainingDataError, match="no such folder"):
        chips_from_folder(tmp_path / "missing", pipeline, cache_dir=tmp_path / "cache")
    one = chips_from_folder(orl_folder([1], images=3), pipeline, crops=True, cache_dir=tmp_path / "cache")
    with pytest.raises(TrainingDataError, match="at least 4 people"):
        split_by_identity(one.trainable(), 0.25)
    with pytest.raises(TrainingDataError, match="at least 2 people"):
        one.trainable().require_people(2, "training")


def test_a_folder_that_disappears_mid_read_is_an_error_not_a_small_data_set(orl_folder, pipeline, tmp_path):
    root = orl_folder([1, 2, 3, 4], images=2)

    def vanish(done, total, path):
        if done == 2 and root.exists():
            shutil.rmtree(root)

    with pytest.raises(TrainingDataError, match="disappeared"):
        chips_from_folder(root, pipeline, crops=True, cache_dir=tmp_path / "cache", progress=vanish)
    assert not list((tmp_path / "cache").glob("*.npz")), "nothing half-read may be cached"


def test_split_is_by_identity(orl_folder, pipeline, tmp_path):
    data = chips_from_folder(orl_folder(range(1, 9), images=2), pipeline, crops=True, cache_dir=tmp_path / "c")
    train, held_out = split_by_identity(data, 0.25, seed=3)
    assert len(held_out.names) == 2 and len(train.names) == 6
    assert not set(train.names) & set(held_out.names)
    assert len(train) + len(held_out) == len(data)
    assert set(train.labels) == set(range(6)) and set(held_out.labels) == {0, 1}


def test_gallery_samples_are_training_data(tmp_path, pipeline, people):
    from core.storage.repository import Gallery
    from core.vision.imaging import load_image

    with Gallery(tmp_path / "g.db") as gallery:
        for name in ("barack_obama", "joe_biden"):
            for photo in people[name][:2]:
                image = load_image(photo)
                result = pipeline.analyse(image)[0]
                gallery.enroll(name, result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, str(photo),
                               add_to_existing=photo != people[name][0])
        data = chips_from_gallery(gallery)
    assert data.counts() == {"barack_obama": 2, "joe_biden": 2}


def test_pk_batches_hold_p_people_with_k_images_and_replay_by_epoch():
    labels = np.repeat(np.arange(10), [5, 5, 5, 5, 5, 3, 3, 2, 2, 6])
    sampler = PKSampler(labels, people_per_batch=4, images_per_person=3, seed=7)
    assert len(sampler) == 3  # 10 people in groups of 4
    batches = sampler.epoch(0)
    seen = set()
    for batch in batches:
        people, counts = np.unique(labels[batch], return_counts=True)
        assert len(people) == 4 and set(counts) == {3}
        seen |= set(people)
    assert seen == set(range(10)), "an epoch visits every person"
    assert all(np.array_equal(a, b) for a, b in zip(batches, sampler.epoch(0)))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, sampler.epoch(1)))
