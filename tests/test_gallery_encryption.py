"""Biometric data encrypted at rest (issue 16): what a copied gallery file reveals, keys, rekeying.

Real galleries enrolled from the shared photos with the real models; the keyring tests use a
real file-backed keyring backend (keyrings.alt), never the user's own keyring.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.storage import keystore
from core.errors import WrongPassphraseError
from core.errors import InputError
from core.storage.repository import Gallery
from core.errors import GalleryError
from core.storage.chips import encode_chip
from core.errors import PassphraseNeededError
from core.vision.imaging import load_image
from core.errors import MissingKeyError
from core.live.match import Matcher
from gallery_data import MODEL, real_chips, unit_vector

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("Barack Obama", "Joe Biden", "Zoë Ångström")


def committed(path: Path) -> tuple[bytes, bytes]:
    """The file and its log: what a refused open must leave as it was (SQLite may add an
    empty log and index beside a file it opens; that changes no data)."""
    log = Path(f"{path}-wal")
    return path.read_bytes(), log.read_bytes() if log.exists() else b""


def database_files(path: Path) -> dict[str, bytes]:
    """The gallery file and whatever SQLite keeps beside it (log, shared-memory index)."""
    files = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            files[candidate.name] = candidate.read_bytes()
    return files


def secrets_of(gallery: Gallery) -> dict[str, bytes]:
    """Byte strings that must never appear in an encrypted gallery: pieces of every chip's PNG
    (a whole PNG spans several database pages, so pieces are what a plain file shows), every
    vector, every name and source."""
    found = {}
    for kind, chips in (("sample", gallery.samples()), ("negative", gallery.negative_samples())):
        for sample in chips:
            png = encode_chip(sample.chip)
            found[f"PNG header of {kind} {sample.id}"] = png[:40]
            for offset in range(100, len(png) - 48, 2000):
                found[f"PNG bytes {offset}.. of {kind} {sample.id}"] = png[offset: offset + 48]
            found[f"source of {kind} {sample.id}"] = sample.source.encode()
    for kind, vectors in (("sample", gallery.sample_vectors(MODEL)), ("negative", gallery.negative_sample_vectors(MODEL))):
        for sample_id, vector in vectors.items():
            raw = np.asarray(vector, "<f4").tobytes()
            found[f"vector of {kind} {sample_id}"] = raw
            found[f"32 bytes of the vector of {kind} {sample_id}"] = raw[200:232]
    for name in NAMES:
        found[f"name {name}"] = name.encode()
        found[f"name {name} in UTF-16"] = name.encode("utf-16-le")
    return found


def assert_nothing_in_clear(path: Path, secrets: dict[str, bytes]) -> None:
    for file_name, content in database_files(path).items():
        for what, needle in secrets.items():
            assert needle not in content, f"{what} is readable in {file_name}"


@pytest.fixture(scope="module")
def faces(pipeline, people):
    """(name, chip, embedding, source) of real faces: three people from the shared photos."""
    chosen = []
    for name, folder in zip(NAMES, ("barack_obama", "joe_biden", "alex_lacamoire")):
        photo = people[folder][0]
        result = pipeline.analyse(load_image(photo))[0]
        chosen.append((name, result.chip, result.embedding, str(photo)))
    return chosen


def enrol_all(gallery: Gallery, faces) -> None:
    for name, chip, embedding, source in faces:
        gallery.enroll(name, chip, embedding, MODEL, 0.9, source)
    gallery.add_negative(NAMES[0], faces[1][1], faces[1][2], MODEL, "live camera 0")


def test_new_galleries_are_encrypted_and_a_copied_file_reveals_no_face_vector_or_name(tmp_path, faces):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        enrol_all(gallery, faces)
        gallery.rename(NAMES[1], "Joseph Biden")
        gallery.rename("Joseph Biden", NAMES[1])
        assert gallery.encrypted and gallery.protection_scheme == "file"
        secrets = secrets_of(gallery)
        assert len(secrets) > 20
        assert_nothing_in_clear(path, secrets)  # while open: the log holds the newest pages
        assert database_files(path)[path.name + "-wal"], "the check above must have seen a non-empty log"
    assert_nothing_in_clear(path, secrets)  # closed: everything is in the file
    with Gallery(path, readonly=True) as gallery:
        assert [p.name for p in gallery.people()] == sorted(NAMES, key=str.casefold)
        match = Matcher(gallery, MODEL, 0.36).match(faces[2][2][None])[0]
        assert match.name == NAMES[2] and match.distance < 1e-6
        assert [s.source for s in gallery.negatives(NAMES[0])] == ["live camera 0"]


def test_a_plain_gallery_shows_what_the_forensic_check_looks_for(tmp_path, faces):
    """The check above can fail: on a plain gallery it finds every chip, vector and name."""
    path = tmp_path / "plain.db"
    with Gallery(path, protection="none") as gallery:
        enrol_all(gallery, faces)
        secrets = secrets_of(gallery)
    content = b"".join(database_files(path).values())
    missing = [what for what, needle in secrets.items() if needle not in content]
    # a piece of a PNG may straddle two pages; everything else is there, and most of each PNG
    assert all(what.startswith("PNG bytes") or "UTF-16" in what for what in missing), missing
    assert len(missing) < 0.1 * len(secrets)


def test_the_key_is_kept_apart_so_the_file_alone_opens_nowhere_else(tmp_path, faces, monkeypatch):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        enrol_all(gallery, faces)
    keys = list(Path(os.environ["ONESHOT_KEYS"]).glob("*.key"))
    assert keys and all(key.parent != path.parent for key in keys)
    assert all(key.stat().st_mode & 0o077 == 0 for key in keys)
    before = committed(path)
    monkeypatch.setenv("ONESHOT_KEYS", str(tmp_path / "another machine"))
    for readonly in (True, False):
        with pytest.raises(MissingKeyError, match="key file is missing"):
            Gallery(path, readonly=readonly)
    assert committed(path) == before


def test_the_system_keyring_holds_the_key_where_there_is_one(tmp_path, faces, monkeypatch):
    pytest.importorskip("keyrings.alt")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "keyring"))
    # A plaintext file is no keyring (test_keystore.py); here it stands in for the OS's secure store.
    monkeypatch.setattr(keystore, "SECURE_BACKENDS", (*keystore.SECURE_BACKENDS, "keyrings.alt.file"))
    import keyring.core

    keyring.core.init_backend()
    try:
        path = tmp_path / "g.db"
        with Gallery(path) as gallery:
            enrol_all(gallery, faces)
            assert gallery.protection_scheme == "keyring"
        with Gallery(path, readonly=True) as gallery:
            assert len(gallery.people()) == 3
        before = committed(path)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        keyring.core.init_backend()
        with pytest.raises(MissingKeyError, match="system keyring, which is not available"):
            Gallery(path)
        assert committed(path) == before
    finally:
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        keyring.core.init_backend()


def test_a_passphrase_gallery_asks_once_and_refuses_a_wrong_one_without_writing(tmp_path, faces):
    path = tmp_path / "g.db"
    asked = []

    def passphrase() -> str:
        asked.append(1)
        return "correct horse battery staple"

    with Gallery(path, protection="passphrase", passphrase=passphrase) as gallery:
        enrol_all(gallery, faces)
        assert gallery.protection_scheme == "passphrase"
    assert len(asked) == 1
    assert not any(Path(os.environ["ONESHOT_KEYS"]).glob(f"*{path.name}*"))
    before = committed(path)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        Gallery(path, passphrase="Correct horse battery staple")
    with pytest.raises(PassphraseNeededError, match="protected by a passphrase"):
        Gallery(path, readonly=True)
    assert committed(path) == before
    with Gallery(path, passphrase="correct horse battery staple") as gallery:
        assert len(gallery.people()) == 3


@pytest.mark.parametrize("damage", ["flipped byte in a vector", "chip moved into a vector", "name of another"])
def test_altered_ciphertext_costs_its_row_and_is_never_read_as_data(tmp_path, faces, damage):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        enrol_all(gallery, faces)
    db = sqlite3.connect(path)
    if damage == "flipped byte in a vector":
        vector = bytearray(db.execute("SELECT vector FROM embeddings WHERE sample_id = 2").fetchone()[0])
        vector[40] ^= 1
        db.execute("UPDATE embeddings SET vector = ? WHERE sample_id = 2", (bytes(vector),))
    elif damage == "chip moved into a vector":
        db.execute("UPDATE embeddings SET vector = (SELECT source FROM samples WHERE id = 1) WHERE sample_id = 2")
    else:  # a sealed name copied onto another person is still a sealed value, but of another row's column
        db.execute("UPDATE people SET note = (SELECT name FROM people WHERE id = 1) WHERE id = 2")
    db.commit()
    db.close()
    with Gallery(path) as gallery:
        if damage == "name of another":  # the person whose note no longer opens is a damaged entry
            assert [p.name for p in gallery.people()] == [NAMES[0], NAMES[2]]
            assert [entry.id for entry in gallery.damaged_people()] == [2]
        else:  # the vector that no longer opens is skipped, never matched
            matcher = Matcher(gallery, MODEL, 0.36)
            matcher.match(faces[0][2][None])
            assert matcher.skipped == 1
        gallery.forget(NAMES[1])  # the damaged person can still be deleted
        assert [p.name for p in gallery.people()] == [NAMES[0], NAMES[2]]


def test_encrypt_decrypt_and_rekey_keep_every_row_and_swap_keys(tmp_path, faces):
    path = tmp_path / "g.db"
    keys = Path(os.environ["ONESHOT_KEYS"])
    with Gallery(path, protection="none") as gallery:
        enrol_all(gallery, faces)
        digest = gallery.content_digest(history=False)
        before_keys = set(keys.glob("*.key"))
        gallery.reprotect("key")
        assert gallery.encrypted and gallery.content_digest(history=False) == digest
        first_key = set(keys.glob("*.key")) - before_keys
        assert len(first_key) == 1
        gallery.reprotect("key")
        second_key = set(keys.glob("*.key")) - before_keys - first_key
        assert len(second_key) == 1  # the old key is kept, retired: older copies of the file need it
        (old,), (new,) = first_key, second_key
        assert keystore.read_record(old.stem).retired and not keystore.read_record(new.stem).retired
        _, older_copies = gallery.reprotect("passphrase", "new passphrase")
        assert set(keys.glob("*.key")) == before_keys | {old, new} and keystore.read_record(new.stem).retired
        assert gallery.protection_scheme == "passphrase" and f"still need its old key {new.stem}" in older_copies
        gallery.enroll("After", faces[0][1], unit_vector(5), MODEL, 0.5, "x")  # the open gallery goes on
        gallery.forget("After")
        assert gallery.content_digest(history=False) == digest
        actions = [entry.action for entry in gallery.history()[0]]
    assert actions[-5:] == ["encrypt", "rekey", "rekey", "enrol", "forget"]
    with Gallery(path, passphrase="new passphrase") as gallery:
        assert Matcher(gallery, MODEL, 0.36).match(faces[0][2][None])[0].name == NAMES[0]
        gallery.reprotect("none")
    with Gallery(path, readonly=True) as gallery:
        assert not gallery.encrypted and len(gallery.people()) == 3
    assert NAMES[0].encode() in path.read_bytes()
    assert [p.name for p in tmp_path.glob(".g.db.*")] == [".g.db.reserve"]


def test_a_second_program_writing_to_the_old_file_is_refused_not_lost(tmp_path, faces):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery, Gallery(path) as other:
        enrol_all(gallery, faces)
        other.people()
        gallery.reprotect("key")
        with pytest.raises(GalleryError, match="was replaced since it was opened"):
            other.enroll("Late", faces[0][1], unit_vector(1), MODEL, 0.5, "x")
    with Gallery(path) as gallery:
        assert len(gallery.people()) == 3


def big_gallery(path: Path, data_dir: Path, people: int = 300, samples: int = 10) -> str:
    chips = real_chips(data_dir, 10)
    entries = [(f"person {n}", "", [(chips[(n + k) % len(chips)], unit_vector(n * samples + k), 0.8, f"s{k}")
                                    for k in range(samples)]) for n in range(people)]
    with Gallery(path) as gallery:
        gallery.import_people(entries, MODEL)
        return gallery.content_digest(history=False)


@pytest.mark.slow
def test_a_rekey_killed_at_any_moment_leaves_the_old_gallery_or_the_new_one(tmp_path, data_dir):
    """The real command, killed with SIGKILL at moments spread over its run: the gallery then
    opens (with the old key or the new one) and holds exactly what it held, every time."""
    path = tmp_path / "g.db"
    digest = big_gallery(path, data_dir)
    keys = Path(os.environ["ONESHOT_KEYS"])
    command = [sys.executable, "-m", "core.cli", "gallery", "rekey", "--gallery", str(path)]
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # one whole run: how long it takes
    whole = time.monotonic() - started
    outcomes = set()
    for fraction in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05):
        before = {key.name for key in keys.glob("*.key")}
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * fraction)
        child.send_signal(signal.SIGKILL)
        child.wait()
        with Gallery(path) as gallery:  # opens with whichever key the file on disk names
            assert gallery.content_digest(history=False) == digest
            assert gallery.encrypted
            outcomes.add("new" if gallery._protection.key_id + ".key" not in before else "old")
            gallery.record("export", "", "a write, which clears what the killed run left")
        assert not list(tmp_path.glob(".g.db.*.rekey*")), "the next write removes what the killed run left"
    assert outcomes, "no run was killed"


def test_history_is_append_only_and_a_removed_entry_is_detected(tmp_path, faces):
    path = tmp_path / "g.db"
    with Gallery(path, protection="none") as gallery:
        enrol_all(gallery, faces)
        gallery.rename(NAMES[2], "Alex")
        gallery.forget("Alex")
        gallery.record("export", "", "3 samples to backup.oneshot")
        entries, broken = gallery.history()
    assert broken is None
    assert [(e.action, e.subject) for e in entries] == [
        ("enrol", NAMES[0]), ("enrol", NAMES[1]), ("enrol", NAMES[2]), ("add negative", NAMES[0]),
        ("rename", "Alex"), ("forget", "Alex"), ("export", "")]
    assert entries[4].detail == f"was {NAMES[2]}" and entries[0].user and entries[0].program
    db = sqlite3.connect(path)
    for statement in ("UPDATE history SET action = 'nothing'", "DELETE FROM history WHERE id = 2"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    db.execute("DROP TRIGGER history_is_append_only_delete")
    db.execute("DELETE FROM history WHERE id = 3")
    db.commit()
    db.close()
    with Gallery(path, readonly=True) as gallery:
        entries, broken = gallery.history()
    assert broken == 4 and len(entries) == 6


def test_history_holds_no_biometric_data_and_seals_names(tmp_path, faces):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        enrol_all(gallery, faces)
        gallery.forget(NAMES[1])
        entries, _ = gallery.history()
    assert NAMES[1] in [entry.subject for entry in entries]
    db = sqlite3.connect(path)
    columns = [row[1] for row in db.execute("PRAGMA table_info(history)")]
    rows = db.execute("SELECT * FROM history").fetchall()
    db.close()
    assert "chip" not in columns and "vector" not in columns
    assert all(NAMES[1].encode() not in repr(row).encode() for row in rows)
    assert max(len(value) for row in rows for value in row if isinstance(value, bytes)) < 300


def test_retention_forgets_only_those_not_seen_within_the_period(tmp_path, faces, clock):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        enrol_all(gallery, faces)
        clock.advance(3)  # dates are stored to the second
        gallery.mark_seen([NAMES[0]])
        period = 1.5 / 86400  # 1.5 seconds, in days
        assert gallery.unseen_for(period) == [NAMES[1], NAMES[2]]
        assert gallery.forget_unseen(period) == [NAMES[1], NAMES[2]]
        assert [p.name for p in gallery.people()] == [NAMES[0]]
        entries, broken = gallery.history()
    assert broken is None
    assert [e.detail for e in entries if e.action == "forget"] == [
        "1 samples deleted (retention: not seen for 1.73611e-05 days)"] * 2
    with Gallery(path) as gallery, pytest.raises(InputError, match="positive number of days"):
        gallery.forget_unseen(0)
