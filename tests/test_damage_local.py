"""One flipped bit in a sealed value damages its row, never the whole gallery (issue 23, break 7).

A real encrypted gallery (its key in the test session's key folder) holds Obama (two samples)
and Biden (one); one byte of one sealed value is flipped with sqlite3, as a bad sector or a
careless edit would. `people` lists the row as "damaged entry #ID", `identify` skips it with
one warning line, `forget --id` and `remove-sample` remove it, `reembed` rebuilds the rest.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from gallery_data import run_oneshot

from core.storage.repository import Gallery


@pytest.fixture
def gallery_file(tmp_path, two_people_faces, pipeline) -> Path:
    """Person 1 Obama (samples 1 and 2), person 2 Biden (sample 3, with a note), encrypted."""
    path = tmp_path / "g.db"
    model = pipeline.embedder.spec.id
    with Gallery(path) as gallery:
        assert gallery.encrypted
        for chip, embedding in two_people_faces["obama"]:
            gallery.enroll("Obama", chip, embedding, model, 0.9, "obama.jpg", add_to_existing=gallery.people() != [])
        gallery.enroll("Biden", *two_people_faces["biden"], model, 0.9, "biden.jpg", note="vice president")
    return path


def flip(path: Path, table: str, column: str, row_id: int, key: str = "id") -> None:
    """Flip one bit in the middle of a stored (sealed) value."""
    db = sqlite3.connect(path)
    value = bytearray(db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (row_id,)).fetchone()[0])
    value[len(value) // 2] ^= 0x10
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (bytes(value), row_id))
    db.commit()
    db.close()


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchone()[0]


@pytest.mark.parametrize("column", ["name", "note"])
def test_people_lists_a_damaged_person_as_its_entry(gallery_file, capsys, column):
    flip(gallery_file, "people", column, 2)
    code, out, err = run_oneshot(capsys, "people", gallery_file)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Obama\t2 samples\t") and len(lines) == 2
    assert lines[1].startswith("damaged entry #2\t") and "fails its authentication check" in lines[1]
    with Gallery(gallery_file, readonly=True) as gallery:
        assert [p.name for p in gallery.people()] == ["Obama"]
        assert [entry.id for entry in gallery.damaged_people()] == [2]


@pytest.mark.parametrize("column", ["name", "note"])
def test_forget_by_id_removes_a_damaged_person_and_their_samples(gallery_file, capsys, column):
    flip(gallery_file, "people", column, 2)
    code, out, err = run_oneshot(capsys, "forget", gallery_file, "--id", 2)
    assert (code, err) == (0, ""), err
    assert out == "forgot entry #2 (1 sample deleted)\n"
    assert count(gallery_file, "SELECT count(*) FROM samples WHERE person_id = 2") == 0
    assert count(gallery_file, "SELECT count(*) FROM embeddings WHERE sample_id = 3") == 0
    code, out, err = run_oneshot(capsys, "people", gallery_file)
    assert code == 0 and "damaged" not in out and out.startswith("Obama\t")


def test_forget_by_id_of_nobody_is_refused(gallery_file, capsys):
    code, out, err = run_oneshot(capsys, "forget", gallery_file, "--id", 9)
    assert (code, out) == (2, "") and err == "oneshot: there is no person #9 in the gallery\n"


@pytest.mark.parametrize("damage", [("people", "name", 2, "id"), ("embeddings", "vector", 1, "sample_id")],
                         ids=["biden-name", "obama-vector"])
def test_identify_skips_a_damaged_entry_with_one_warning(gallery_file, capsys, people, damage):
    flip(gallery_file, *damage)
    code, out, err = run_oneshot(capsys, "identify", gallery_file, people["barack_obama"][2])
    assert code == 0, err
    assert "Obama" in out
    assert err.splitlines() == ["oneshot: warning: skipped 1 damaged gallery entry (a name or vector that fails to "
                                "open): `oneshot people` lists damaged people, `oneshot reembed` rebuilds vectors"]


@pytest.mark.parametrize("column", ["chip", "source"])
def test_remove_sample_removes_a_damaged_sample(gallery_file, capsys, column):
    flip(gallery_file, "samples", column, 1)
    flip(gallery_file, "people", "name", 1)  # and its owner's name: the sample still goes
    code, out, err = run_oneshot(capsys, "remove-sample", gallery_file, 1)
    assert (code, err) == (0, ""), err
    assert out == "removed sample 1 of damaged entry #1 (1 sample left)\n"
    assert count(gallery_file, "SELECT count(*) FROM samples WHERE id = 1") == 0


def test_reembed_rebuilds_the_intact_samples_and_reports_the_damaged(gallery_file, capsys, people):
    flip(gallery_file, "samples", "chip", 1)
    flip(gallery_file, "embeddings", "vector", 2, key="sample_id")
    code, out, err = run_oneshot(capsys, "reembed", gallery_file)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("re-embedded 2 samples with ")
    assert [line for line in err.splitlines() if line and "re-embedding [" not in line] == [
        "oneshot: warning: skipped sample 1: the chip of sample 1 fails its authentication check (altered, moved "
        "from another row, or sealed under another key); `oneshot remove-sample 1` removes it"]
    code, out, err = run_oneshot(capsys, "identify", gallery_file, people["barack_obama"][2])
    assert (code, err) == (0, "") and "Obama" in out  # sample 2's vector is rebuilt from its chip


def test_vectors_skip_damaged_rows_and_keep_the_masked_flags_aligned(gallery_file, pipeline):
    with sqlite3.connect(gallery_file) as db:
        db.execute("UPDATE samples SET masked = 1 WHERE id = 2")
    flip(gallery_file, "embeddings", "vector", 1, key="sample_id")
    with Gallery(gallery_file, readonly=True) as gallery:
        vectors = gallery.vectors(pipeline.embedder.spec.id)
        assert vectors.skipped == 1 and vectors.names == ["Obama", "Biden"]
        assert list(vectors.owners) == [0, 1] and list(vectors.masked) == [True, False]
        assert sorted(gallery.sample_vectors(pipeline.embedder.spec.id)) == [2, 3]  # as if missing


def test_one_persons_samples_list_a_damaged_one_by_its_id(gallery_file, capsys):
    flip(gallery_file, "samples", "chip", 1)
    code, out, err = run_oneshot(capsys, "samples", gallery_file, "Obama")
    assert code == 0, err
    assert "sample 2\tobama.jpg" in out and "damaged sample 1\t" in out
    assert "`oneshot remove-sample 1` removes it" in out
    with Gallery(gallery_file, readonly=True) as gallery:
        assert sorted(gallery.thumbnails()) == ["Biden", "Obama"]  # Obama's icon: his first chip is damaged
