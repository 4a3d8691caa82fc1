"""The SQLite gallery: privacy, durability, concurrency and refusing what is not ours."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from core.errors import InputError
from core.storage.sqlite import APPLICATION_ID
from core.storage.schema import SCHEMA_VERSION
from core.errors import DuplicateNameError, GalleryError, UnknownPersonError
from core.storage.repository import Gallery
from core.storage.chips import encode_chip

MODEL = "dlib-resnet-v1"


@pytest.fixture
def chip(pipeline, people):
    from core.vision.imaging import load_image

    image = load_image(people["barack_obama"][0])
    return pipeline.align(image.pixels, pipeline.detect(image.pixels))[0]


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_gallery_is_private_and_versioned(tmp_path, chip):
    path = tmp_path / "sub" / "gallery.db"
    with Gallery(path) as gallery:
        gallery.enroll("Ana", chip, vector(0), MODEL, 0.9, "test")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_people_rename_forget(tmp_path, chip):
    with Gallery(tmp_path / "g.db") as gallery:
        gallery.enroll("Zoë O'Brien \"Z\"", chip, vector(1), MODEL, 0.9, "a.jpg")
        gallery.enroll("zoë o'brien \"z\"", chip, vector(2), MODEL, 0.8, "b.jpg", add_to_existing=True)
        gallery.enroll("李雷", chip, vector(3), MODEL, 0.7, "c.jpg")
        assert [(p.name, p.samples) for p in gallery.people()] == [("Zoë O'Brien \"Z\"", 2), ("李雷", 1)]
        gallery.rename("ZOË O'BRIEN \"Z\"", "Zoe")
        assert gallery.forget("zoe") == 2
        assert [p.name for p in gallery.people()] == ["李雷"]


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda g, c: g.enroll("ana", c, vector(9), MODEL, 0.9, "x"), DuplicateNameError),
        (lambda g, c: g.enroll("  ", c, vector(9), MODEL, 0.9, "x"), InputError),
        (lambda g, c: g.enroll("tab\there", c, vector(9), MODEL, 0.9, "x"), InputError),
        (lambda g, c: g.enroll("Nobody", c, vector(9), MODEL, 0.9, "x", add_to_existing=True), UnknownPersonError),
        (lambda g, c: g.rename("Nobody", "X"), UnknownPersonError),
        (lambda g, c: g.rename("Ana", "bob"), DuplicateNameError),
        (lambda g, c: g.rename("Ana", ""), InputError),
        (lambda g, c: g.forget("Nobody"), UnknownPersonError),
        (lambda g, c: g.import_people([("Carl", "", [(c, vector(5), 0.9, "x")]), ("Bob", "", [])], MODEL),
         DuplicateNameError),
    ],
    ids=["duplicate", "empty", "control-char", "add-unknown", "rename-unknown", "rename-duplicate",
         "rename-empty", "forget-unknown", "import-duplicate"],
)
def test_bad_requests_change_nothing(tmp_path, chip, action, error):
    with Gallery(tmp_path / "g.db") as gallery:
        gallery.enroll("Ana", chip, vector(1), MODEL, 0.9, "a")
        gallery.enroll("Bob", chip, vector(2), MODEL, 0.9, "b")
        before = (gallery.people(), gallery.vectors(MODEL).matrix.copy())
        with pytest.raises(error):
            action(gallery, chip)
        assert gallery.people() == before[0]
        assert np.array_equal(gallery.vectors(MODEL).matrix, before[1])


def test_forgetting_leaves_no_trace_in_the_files(tmp_path, chip):
    path = tmp_path / "g.db"
    secret = vector(42)
    blurred = chip.copy()
    blurred[::2] //= 2  # a chip unlike the other one, so its PNG bytes are unique
    with Gallery(path) as gallery:
        gallery.enroll("Keep", chip, vector(1), MODEL, 0.9, "a")
        gallery.enroll("Gone", blurred, secret, MODEL, 0.9, "b")
        gallery.forget("Gone")
        files = [p for p in tmp_path.iterdir() if p.name.startswith("g.db")]
        raw = b"".join(p.read_bytes() for p in files)
    assert secret.astype("<f4").tobytes()[:64] not in raw
    assert encode_chip(blurred)[100:200] not in raw
    assert b"Gone" not in raw


def test_vectors_group_by_person(tmp_path, chip):
    with Gallery(tmp_path / "g.db") as gallery:
        gallery.enroll("B", chip, vector(1), MODEL, 0.9, "x")
        gallery.enroll("A", chip, vector(2), MODEL, 0.9, "x")
        gallery.enroll("B", chip, vector(3), MODEL, 0.9, "x", add_to_existing=True)
        vectors = gallery.vectors(MODEL)
    assert vectors.names == ["B", "A"]
    assert vectors.owners.tolist() == [0, 0, 1]
    assert np.array_equal(vectors.matrix, np.stack([vector(1), vector(3), vector(2)]))


def test_foreign_and_garbage_files_are_refused_and_untouched(tmp_path):
    foreign = tmp_path / "other.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    for path, message in ((foreign, "another program"), (text, "not an SQLite database")):
        before = digest(path)
        with pytest.raises(GalleryError, match=message):
            Gallery(path)
        assert digest(path) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "other.db"]


def test_damaged_gallery_is_refused_and_untouched(tmp_path, chip):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        for n in range(30):
            gallery.enroll(f"P{n}", chip, vector(n), MODEL, 0.9, "x")
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(GalleryError, match="damaged"):
        Gallery(path)
    assert digest(path) == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "g.db"
    Gallery(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(GalleryError, match="newer OneShot"):
        Gallery(path)


def test_a_directory_is_not_a_gallery(tmp_path):
    with pytest.raises(GalleryError, match="is a directory"):
        Gallery(tmp_path)


ENROL_LOOP = textwrap.dedent(
    """
    import sys, numpy as np
    from core.storage.repository import Gallery
    chip = np.full((150, 150, 3), 128, np.uint8)
    gallery = Gallery(sys.argv[1])
    for n in range(int(sys.argv[3])):
        vector = np.random.default_rng(n).normal(size=128).astype(np.float32)
        gallery.enroll(f"{sys.argv[2]}{n}", chip, vector, "dlib-resnet-v1", 0.5, "batch")
        print(n, flush=True)
    """
)


def test_killed_mid_batch_keeps_exactly_the_committed_samples(tmp_path):
    path = tmp_path / "g.db"
    child = subprocess.Popen([sys.executable, "-c", ENROL_LOOP, str(path), "p", "100000"],
                             stdout=subprocess.PIPE, text=True)
    reported = -1
    for line in child.stdout:
        reported = int(line)
        if reported >= 150:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with Gallery(path) as gallery:  # opens, and passes the integrity check
        people = gallery.people()
        vectors = gallery.vectors(MODEL)
    # every reported sample is there; at most one more committed just before the kill
    assert reported + 1 <= len(people) <= reported + 2
    assert all(person.samples == 1 for person in people)
    assert len(vectors.matrix) == len(people)
    names = {person.name for person in people}
    assert names == {f"p{n}" for n in range(len(people))}


def test_two_processes_enrolling_at_once_lose_nothing(tmp_path):
    path = tmp_path / "g.db"
    Gallery(path).close()
    children = [subprocess.Popen([sys.executable, "-c", ENROL_LOOP, str(path), prefix, "60"],
                                 stdout=subprocess.DEVNULL) for prefix in ("a", "b")]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    with Gallery(path) as gallery:
        assert len(gallery.people()) == 120
        assert len(gallery.vectors(MODEL).matrix) == 120
