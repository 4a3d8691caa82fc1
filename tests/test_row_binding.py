"""A sealed value is bound to its row: moved or swapped without the key, it fails (issue 23, break 3).

Each attack is made with sqlite3 (or psycopg) on a real encrypted gallery, as someone holding
the file but not its key would: swap two samples' vectors, two people's names, move a sample
to another person, swap two lookup keys. None of them may make OneShot name a face wrongly;
the rows concerned read as damaged, as a flipped bit does. A gallery sealed by the previous
schema (``tests/data/schema4-passphrase.db``, written by OneShot at ffa03e5) is read as it
is and re-sealed to its rows in its first write, in one transaction.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from gallery_data import passphrase_cipher, run_oneshot

from core.errors import GalleryError
from core.storage import history as history_module
from core.storage.keys import file_protection
from core.storage.repository import Gallery
from core.storage.schema import SEALED_COLUMNS

LEGACY = Path(__file__).parent / "data" / "schema4-passphrase.db"
LEGACY_PASSPHRASE = "old gallery passphrase"


@pytest.fixture
def gallery_file(tmp_path, two_people_faces, pipeline) -> Path:
    """Person 1 Obama (sample 1), person 2 Biden (sample 2), person 3 Obama's double (sample 3), encrypted."""
    path = tmp_path / "g.db"
    model = pipeline.embedder.spec.id
    with Gallery(path) as gallery:
        gallery.enroll("Obama", *two_people_faces["obama"][0], model, 0.9, "obama.jpg")
        gallery.enroll("Biden", *two_people_faces["biden"], model, 0.9, "biden.jpg", note="vice president")
    return path


def swap(path: Path, table: str, column: str, first: int, second: int, key: str = "id") -> None:
    """Exchange one column's values between two rows, as sqlite3 without the key can."""
    db = sqlite3.connect(path)
    a = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (first,)).fetchone()[0]
    b = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (second,)).fetchone()[0]
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", ("being swapped", first))  # unique columns
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (a, second))
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (b, first))
    db.commit()
    db.close()


def test_swapped_vectors_name_nobody(gallery_file, people, capsys):
    """The issue's attack: Biden's row holds Obama's vector; Obama's photo must not be "Biden"."""
    swap(gallery_file, "embeddings", "vector", 1, 2, key="sample_id")
    code, out, err = run_oneshot(capsys, "identify", gallery_file, people["barack_obama"][0])
    assert "Biden" not in out and "Obama" not in out  # both vectors fail: nobody is named
    assert code == 0 and "skipped 2 damaged gallery entries" in err, err


def test_swapped_names_are_two_damaged_entries(gallery_file, people, capsys):
    swap(gallery_file, "people", "name", 1, 2)
    code, out, err = run_oneshot(capsys, "people", gallery_file)
    assert "damaged entry #1" in out and "damaged entry #2" in out
    assert "Obama" not in out and "Biden" not in out
    code, out, err = run_oneshot(capsys, "identify", gallery_file, people["joe_biden"][0])
    assert "Biden" not in out and "Obama" not in out


def test_a_sample_moved_to_another_person_is_not_theirs(gallery_file, people, capsys):
    db = sqlite3.connect(gallery_file)
    db.execute("UPDATE samples SET person_id = 2 WHERE id = 1")  # Obama's face filed under Biden
    db.execute("DELETE FROM people WHERE id = 1")
    db.commit()
    db.close()
    code, out, err = run_oneshot(capsys, "identify", gallery_file, people["barack_obama"][0])
    assert "Biden" not in out
    with Gallery(gallery_file) as gallery:
        damaged = []
        assert [sample.name for sample in gallery.samples(damaged)] == ["Biden"]
        assert [entry.id for entry in damaged] == [1]


def test_a_lookup_key_moved_to_another_row_reaches_nobody(gallery_file, two_people_faces, pipeline):
    swap(gallery_file, "people", "name_key", 1, 2)
    with Gallery(gallery_file) as gallery:
        with pytest.raises(GalleryError, match="the lookup key of person #2 is not their name's"):
            gallery.enroll("Obama", *two_people_faces["obama"][1], pipeline.embedder.spec.id, 0.9, "x", add_to_existing=True)
    with Gallery(gallery_file) as gallery:  # nothing was added to Biden
        assert [info.source for info in gallery.person_samples("Biden")] == ["biden.jpg"]


def test_a_value_copied_to_another_row_of_the_same_person_fails(gallery_file, two_people_faces, pipeline):
    model = pipeline.embedder.spec.id
    with Gallery(gallery_file) as gallery:
        gallery.enroll("Obama", *two_people_faces["obama"][1], model, 0.9, "second.jpg", add_to_existing=True)
    db = sqlite3.connect(gallery_file)
    first = db.execute("SELECT vector FROM embeddings WHERE sample_id = 1").fetchone()[0]
    db.execute("UPDATE embeddings SET vector = ? WHERE sample_id = 3", (first,))  # a replayed vector
    db.commit()
    db.close()
    with Gallery(gallery_file) as gallery:
        assert set(gallery.sample_vectors(model)) == {1, 2}
        assert gallery.vectors(model).skipped == 1


def legacy_copy(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copyfile(LEGACY, path)
    return path


def test_a_gallery_of_the_previous_schema_reads_as_it_is(tmp_path, pipeline):
    path = legacy_copy(tmp_path)
    before = path.read_bytes()
    with Gallery(path, passphrase=LEGACY_PASSPHRASE) as gallery:
        assert [person.name for person in gallery.people()] == ["Biden", "Obama"]
        assert gallery.person("Biden").note == "vice president"
        assert len(gallery.vectors(pipeline.embedder.spec.id).matrix) == 3
        entries, broken = gallery.history()
        assert broken is None and [entry.action for entry in entries][-1] == "export"
    assert path.read_bytes() == before  # reading never writes


def test_the_first_write_reseals_every_value_to_its_row(tmp_path, pipeline, people, capsys, monkeypatch):
    path = legacy_copy(tmp_path)
    with Gallery(path, passphrase=LEGACY_PASSPHRASE) as gallery:
        digest = gallery.content_digest(history=False)
        gallery.rename("Biden", "Joe Biden")
        gallery.rename("Joe Biden", "Biden")
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 5
        entries, broken = gallery.history()
        assert broken is None and [entry.action for entry in entries][-2:] == ["rename", "rename"]
    with Gallery(path, passphrase=LEGACY_PASSPHRASE) as gallery:  # reopened: bound seals only
        assert gallery.content_digest(history=False) == digest  # the same rows, sealed anew
        for table, columns in SEALED_COLUMNS.items():
            assert _legacy_openable(path, table, columns[0]) == 0, table
    swap(path, "embeddings", "vector", 1, 3, key="sample_id")  # Obama's first and Biden's
    monkeypatch.setenv("ONESHOT_PASSPHRASE", LEGACY_PASSPHRASE)
    code, out, err = run_oneshot(capsys, "identify", path, people["barack_obama"][0])
    assert "Biden" not in out and "skipped 2 damaged gallery entries" in err


def test_a_migration_that_fails_leaves_the_previous_schema(tmp_path, two_people_faces, pipeline, monkeypatch):
    path = legacy_copy(tmp_path)
    with Gallery(path, passphrase=LEGACY_PASSPHRASE) as gallery:
        digest = gallery.content_digest()

        def killed(*args):
            raise KeyboardInterrupt  # as a process stopped after the re-sealing, before its commit

        monkeypatch.setattr(history_module.HistoryBook, "record", killed)
        with pytest.raises(KeyboardInterrupt):
            gallery.enroll("Ana", *two_people_faces["obama"][1], pipeline.embedder.spec.id, 0.9, "x")
    monkeypatch.undo()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 4
    with Gallery(path, passphrase=LEGACY_PASSPHRASE) as gallery:
        assert gallery.content_digest() == digest


def _legacy_openable(path: Path, table: str, column: str) -> int:
    """How many of the column's values still open under the column-only binding of schema 4."""
    cipher = _cipher(path)
    db = sqlite3.connect(path)
    count = 0
    for (value,) in db.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"):
        try:
            cipher.open(value, f"{table}.{column}")
            count += 1
        except Exception:
            pass
    return count


def _cipher(path: Path):
    """The gallery's field cipher, from its passphrase (what only the key's holder can do)."""
    return passphrase_cipher(file_protection(path), LEGACY_PASSPHRASE)
