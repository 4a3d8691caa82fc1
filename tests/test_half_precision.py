"""FP16 copies of the embedder: converted, checked against FP32 on real faces, registered or refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="converting to FP16 needs the onnx package of the train extra")

from core.models import half_precision  # noqa: E402
from core.models.activation import open_embedder  # noqa: E402
from core.cli import main  # noqa: E402
from core.errors import InputError, OneShotError  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from core.vision.imaging import load_image  # noqa: E402
from core.models.store import embedders, get_embedder  # noqa: E402
from core.models.registry import find_model, verify_file  # noqa: E402


@pytest.fixture(scope="module")
def people_chips(pipeline, data_dir):
    """One aligned chip per photo of the shared people set (real faces, several people)."""
    photos = sorted((data_dir / "people").glob("*/*.jpg"))
    chips = [result.chip for path in photos for result in pipeline.analyse(load_image(path))[:1]]
    assert len(chips) >= 10
    return np.stack(chips)


def test_fp16_copy_keeps_every_distance_within_the_limit_and_is_registered(people_chips, private_models):
    shipped = find_model("embed")
    spec, measured = half_precision.make_half_precision(shipped, people_chips, "cpu")

    assert measured.pairs == len(people_chips) * (len(people_chips) - 1) // 2
    assert measured.max_pair_error <= half_precision.LIMIT
    assert spec.id == "dlib-resnet-v1-fp16" and spec.details["precision"] == "fp16"
    assert spec.details["parent"] == shipped.id and spec.defaults["tau"] == shipped.defaults["tau"]
    verify_file(spec)
    assert spec.path.stat().st_size < 0.6 * shipped.path.stat().st_size, "FP16 weights take half the bytes"
    assert [s.id for s in embedders()] == [shipped.id, spec.id]

    full = open_embedder(shipped, "cpu").embed(people_chips[:4])
    half = open_embedder(get_embedder(spec.id), "cpu").embed(people_chips[:4])
    assert half.dtype == np.float32 and half.shape == full.shape
    assert np.abs(half - full).max() < 0.01

    with pytest.raises(InputError, match="already exists"):
        half_precision.make_half_precision(shipped, people_chips, "cpu")


def test_a_copy_outside_the_limit_is_refused_and_nothing_is_left_behind(people_chips, private_models, monkeypatch):
    monkeypatch.setattr(half_precision, "LIMIT", 0.0)  # FP16 always moves some distance by more than nothing
    with pytest.raises(OneShotError, match="not registered"):
        half_precision.make_half_precision(find_model("embed"), people_chips, "cpu")
    assert [s.id for s in embedders()] == [find_model("embed").id]
    assert not [p for p in private_models.iterdir() if p.suffix in (".onnx", ".json")]


def test_one_chip_is_not_enough_to_check_distances(people_chips, private_models):
    with pytest.raises(InputError, match="at least two face chips"):
        half_precision.make_half_precision(find_model("embed"), people_chips[:1], "cpu")


def test_cli_checks_on_gallery_and_folder_then_lists_the_copy(capsys, pipeline, people_chips, orl_folder, tmp_path,
                                                              private_models):
    gallery_path = tmp_path / "g.db"
    with Gallery(gallery_path) as gallery:
        embedding = pipeline.embed(people_chips[:1])[0]
        gallery.enroll("first", people_chips[0], embedding, pipeline.embedder.spec.id, 1.0, "test")

    code = main(["models", "half", "--gallery", str(gallery_path), "--check-on", str(orl_folder(range(1, 3), images=2)),
                 "--crops", "--provider", "cpu", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert document["model"] == "dlib-resnet-v1-fp16" and document["chips"] == 1 + 4
    assert document["max_pair_error"] <= document["limit"] == half_precision.LIMIT

    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "dlib-resnet-v1-fp16" in listing and "FP16" in listing
