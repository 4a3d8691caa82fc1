"""Condition-aware decisions: a masked face is named only below the masked tau, and says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from core.vision.condition import CONDITIONS, ConditionTaus, FaceCondition
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.live.match import Matcher
from core.models.registry import find_model
from core.training.conditions import mask_photo

from core.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def masked_photo(pipeline, source, destination) -> None:
    """``source`` with a plain mask drawn over nose, mouth and chin from the detected landmarks."""
    image = load_image(source)
    face = max(pipeline.detect(image.pixels), key=lambda f: f.area)
    Image.fromarray(mask_photo(image.pixels, face)).save(destination)


def test_every_condition_has_a_tau_no_laxer_than_clear():
    taus = ConditionTaus.from_defaults(find_model("embed").defaults)
    table = taus.table(0.36)
    assert set(CONDITIONS) - {"clear"} <= set(table)
    assert all(value <= 0.36 for value in table.values())
    assert table["masked"] < 0.36 and table["masked_masked"] < table["masked"]


def test_the_strictest_condition_decides_and_a_hand_set_tau_scales_them():
    taus = ConditionTaus.from_defaults({"tau": 0.4, "condition_taus": {"masked": 0.2, "dark": 0.3}})
    masked_and_dark = FaceCondition(("masked", "dark"), 0.9, 100.0, 30.0, 0.0)
    assert taus.tau(masked_and_dark, 0.4) == pytest.approx(0.2)
    assert taus.tau(masked_and_dark, 0.8) == pytest.approx(0.4)  # the user's tau doubled: so is every condition's
    clear = FaceCondition((), 0.0, 100.0, 120.0, 0.0)
    assert taus.tau(clear, 0.4) == pytest.approx(0.4)
    masked = FaceCondition(("masked",), 0.9, 100.0, 120.0, 0.0)
    assert taus.pair_tau(masked, masked, 0.4) < taus.pair_tau(masked, clear, 0.4)


def test_a_masked_face_is_decided_at_the_masked_tau(pipeline, people, tmp_path):
    obama = pipeline.analyse(load_image(people["barack_obama"][0]))[0]
    photo = tmp_path / "masked.png"
    masked_photo(pipeline, people["barack_obama"][1], photo)
    probe = max(pipeline.analyse(load_image(photo)), key=lambda r: r.face.area)
    assert probe.condition.name == "masked" and probe.condition.hint == "lower the mask to be recognised"
    with Gallery(tmp_path / "g.db") as gallery:
        gallery.enroll("Barack Obama", obama.chip, obama.embedding, pipeline.embedder.spec.id, 0.9, "test")
        matcher = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau, condition_taus=pipeline.condition_taus)
        plain = matcher.match(probe.embedding[None])[0]
        aware = matcher.match(probe.embedding[None], [probe.condition])[0]
    masked_tau = pipeline.condition_taus.tau(probe.condition, pipeline.tau)
    assert masked_tau < pipeline.tau
    assert aware.tau == pytest.approx(masked_tau) and aware.condition == "masked"
    assert aware.distance == pytest.approx(plain.distance)
    assert (aware.name == "Barack Obama") == (aware.distance < masked_tau)


def test_a_clear_face_keeps_the_clear_tau(pipeline, people):
    for person in ("barack_obama", "joe_biden", "rose_leslie"):
        result = max(pipeline.analyse(load_image(people[person][0])), key=lambda r: r.face.area)
        assert result.condition.name == "clear", person


def test_identify_reports_the_condition_and_keeps_masked_strangers_unknown(capsys, people, tmp_path, pipeline):
    gallery = tmp_path / "g.db"
    assert run(capsys, "enroll", "--gallery", str(gallery), "Joe Biden", str(people["joe_biden"][0]))[0] == 0
    stranger = tmp_path / "obama_masked.png"
    masked_photo(pipeline, people["barack_obama"][2], stranger)
    code, out, _ = run(capsys, "identify", "--gallery", str(gallery), "--json", str(stranger))
    assert code == 0
    face = json.loads(out)[0]["faces"][0]
    assert face["condition"] == "masked" and face["name"] is None and face["tau"] < 0.36
    assert face["live"] is None and face["liveness"] is None  # not asked for
    code, out, _ = run(capsys, "identify", "--gallery", str(gallery), str(stranger))
    assert "unknown (masked)" in out and "lower the mask" in out


# -- masked samples ---------------------------------------------------------------------------


@pytest.fixture
def masked_obama(pipeline, people, tmp_path):
    """Obama's photo 2 with a mask drawn on, and its analysis."""
    photo = tmp_path / "obama_masked.png"
    masked_photo(pipeline, people["barack_obama"][1], photo)
    return photo, max(pipeline.analyse(load_image(photo)), key=lambda r: r.face.area)


def obama_with_a_masked_sample(pipeline, people, masked, path):
    """A gallery with Obama's clear photo 1 and the masked ``masked`` as a masked sample; his clear analysis."""
    clear = pipeline.analyse(load_image(people["barack_obama"][0]))[0]
    model = pipeline.embedder.spec.id
    with Gallery(path) as gallery:
        gallery.enroll("Obama", clear.chip, clear.embedding, model, 0.9, "clear")
        gallery.enroll("Obama", masked.chip, masked.embedding, model, 0.9, "masked", add_to_existing=True, masked=True)
    return clear


def test_a_masked_sample_is_stored_marked_and_compared_at_the_masked_to_masked_tau(pipeline, people, masked_obama,
                                                                                    tmp_path):
    _, masked = masked_obama
    model = pipeline.embedder.spec.id
    clear = obama_with_a_masked_sample(pipeline, people, masked, tmp_path / "g.db")
    with Gallery(tmp_path / "g.db") as gallery:
        vectors = gallery.vectors(model)
        assert vectors.masked.tolist() == [False, True]
        matcher = Matcher(gallery, model, pipeline.tau, condition_taus=pipeline.condition_taus)
        taus = pipeline.condition_taus
        d_clear = float(np.sum((masked.embedding - clear.embedding) ** 2))
        # the masked sample itself, seen masked: distance 0 at any tau
        match = matcher.match(masked.embedding[None], [masked.condition])[0]
        assert match.name == "Obama" and match.distance == pytest.approx(0.0, abs=1e-5)
        # seen clear: the clear sample at the clear tau, the masked one scaled to the clear tau
        distances, names, _ = matcher.distances(clear.embedding[None], [clear.condition])
        assert names == ["Obama"] and distances[0, 0] == pytest.approx(0.0, abs=1e-5)
        # a masked face against the clear sample only: decided at the masked tau
        scale = taus.tau(masked.condition, pipeline.tau) / taus.pair_tau(masked.condition, masked.condition, pipeline.tau)
        gallery.remove_sample(gallery.person_samples("Obama")[0].id)  # keep only the masked sample
        distances, _, _ = Matcher(gallery, model, pipeline.tau, condition_taus=taus).distances(
            clear.embedding[None], [masked.condition])
        assert distances[0, 0] == pytest.approx(d_clear * scale, rel=1e-4)


def test_a_masked_sample_needs_a_mask_and_someone_enrolled(capsys, people, masked_obama, tmp_path):
    gallery = str(tmp_path / "g.db")
    photo, _ = masked_obama
    code, _, err = run(capsys, "enroll", "--gallery", gallery, "--masked", "Obama", str(photo))
    assert code == 2 and "without a mask first" in err
    assert run(capsys, "enroll", "--gallery", gallery, "Obama", str(people["barack_obama"][0]))[0] == 0
    code, _, err = run(capsys, "enroll", "--gallery", gallery, "--add", "--masked", "Obama",
                       str(people["barack_obama"][2]))
    assert code == 2 and "no mask is seen" in err
    code, _, err = run(capsys, "enroll", "--gallery", gallery, "--add", "--masked", "Obama", str(photo))
    if code:  # a masked face may lie farther than tau from their clear samples: confirmed with --force
        assert code == 2 and "does not look like 'Obama'" in err
    code, out, _ = run(capsys, "enroll", "--gallery", gallery, "--add", "--masked", "--force", "--json", "Obama",
                       str(photo))
    assert code == 0 and json.loads(out)["samples"] == 2
    with Gallery(tmp_path / "g.db", readonly=True) as stored:
        assert stored.vectors(find_model("embed").id).masked.tolist() == [False, True]


def test_enrolling_a_masked_face_as_a_plain_sample_warns(capsys, masked_obama, tmp_path):
    photo, _ = masked_obama
    code, _, err = run(capsys, "enroll", "--gallery", tmp_path / "g.db", "Obama", photo)
    assert code == 0 and "looks masked" in err


def test_a_masked_sample_stays_masked_through_export_and_import(capsys, pipeline, people, masked_obama, tmp_path):
    model = pipeline.embedder.spec.id
    obama_with_a_masked_sample(pipeline, people, masked_obama[1], tmp_path / "a.db")
    exported = tmp_path / "obama.oneshot"
    assert run(capsys, "export", "--gallery", tmp_path / "a.db", "--plain", exported)[0] == 0
    assert run(capsys, "import", "--gallery", tmp_path / "b.db", exported)[0] == 0
    with Gallery(tmp_path / "b.db", readonly=True) as imported:
        assert imported.vectors(model).masked.tolist() == [False, True]
        assert [sample.masked for sample in imported.samples()] == [False, True]
