"""Imports are checked against the active model, and a gallery poisoned before that is repairable."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from core.storage.archive import export_gallery
from core.cli import main
from core.storage.repository import Gallery

from gallery_data import MODEL, real_chips


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def short_vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=64).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def short_export(tmp_path, data_dir):
    """An export of MODEL whose vectors have 64 numbers (the model makes 128)."""
    chips = real_chips(data_dir, 2)
    with Gallery(tmp_path / "source.db", protection="none") as source:
        source.import_people([("Ana", "", [(chips[0], short_vector(0), 0.9, "ana.jpg")]),
                              ("Bo", "", [(chips[1], short_vector(1), 0.8, "bo.jpg")])], MODEL)
        assert export_gallery(source, MODEL, tmp_path / "short.zip", None) == 2
    return tmp_path / "short.zip"


def test_an_export_with_vectors_of_the_wrong_length_is_refused_by_an_empty_gallery(tmp_path, short_export, capsys):
    gallery = tmp_path / "new.db"
    Gallery(gallery, protection="none").close()
    code, out, err = run(capsys, "import", "--gallery", gallery, short_export)
    assert code == 2 and not out
    assert err.splitlines()[0].endswith("have 64 numbers, but model 'dlib-resnet-v1' makes 128: not imported, "
                                        "nothing was changed (a damaged export, or one of a gallery whose vectors "
                                        "disagree with the model: run `oneshot reembed` there, then export again)")
    with Gallery(gallery, readonly=True) as opened:
        assert opened.people() == [] and opened.history()[0] == []


def test_reembed_repairs_a_gallery_whose_vectors_disagree_with_the_model(tmp_path, people, capsys):
    """A gallery an older import poisoned: 64-number vectors registered for the 128-number model."""
    gallery = tmp_path / "poisoned.db"
    Gallery(gallery, protection="none").close()
    code, _, err = run(capsys, "enroll", "--gallery", gallery, "Obama", people["barack_obama"][0])
    assert code == 0, err
    db = sqlite3.connect(gallery)
    db.execute("UPDATE embeddings SET vector = substr(vector, 1, 256)")
    db.execute("UPDATE models SET dimensions = 64")
    db.commit()
    db.close()
    code, _, err = run(capsys, "identify", "--gallery", gallery, people["barack_obama"][1])
    assert code != 0
    code, out, err = run(capsys, "reembed", "--gallery", gallery)
    assert code == 0, err
    assert "re-embedded 1 samples with dlib-resnet-v1" in out
    code, out, err = run(capsys, "identify", "--gallery", gallery, people["barack_obama"][1])
    assert code == 0, err
    assert "Obama" in out
    with Gallery(gallery, readonly=True) as opened:
        assert opened.vectors(MODEL).matrix.shape[1] == 128
