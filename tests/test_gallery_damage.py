"""Galleries that are damaged, foreign, read-only, on a full disk, created twice at once, or hostile.

The promises under test: a file that is not a usable gallery is refused with one line and
exit code 2, and is left byte-for-byte as it was (sha256 and modification time); opening
never writes; read-only files, folders and media can still be read; a full disk makes the
failing write say "disk full" and the gallery still opens, lists, identifies and forgets;
two processes creating one new gallery both succeed; names with terminal escapes are
printed escaped and can always be forgotten. Fault injection uses the real mechanisms
(a small tmpfs, a read-only remount, a process without root's rights) where this machine
allows them, and skips with the reason where it does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import pickle
import re
import shutil
import sqlite3
import stat
import struct
import subprocess
import tempfile
import time
import traceback
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.storage.archive import export_gallery
from core.cli import main
from core.errors import InputError, OneShotError
from core.storage.schema import SCHEMA_VERSION
from core.errors import DiskFullError, GalleryError, ReadOnlyGalleryError, UnknownPersonError
from core.storage.repository import Gallery
from core.storage.names import printable, unescape_name

from gallery_data import MODEL, real_chips, unit_vector




def fingerprint(path: Path) -> tuple:
    info = os.stat(path)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest(), info.st_mtime_ns, info.st_size


@pytest.fixture(scope="module")
def chips(data_dir):
    return real_chips(data_dir, 6)


class Blob(bytes):
    """Bytes that print short (hypothesis shows the arguments of a failing example)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes of a real gallery>"


@pytest.fixture(scope="module")
def base_gallery(tmp_path_factory, chips) -> bytes:
    """The bytes of a real gallery: four people, real chips, 128-d vectors, closed cleanly."""
    path = tmp_path_factory.mktemp("base") / "g.db"
    with Gallery(path, protection="none") as gallery:
        for n in range(4):
            gallery.enroll(f"person {n}", chips[n], unit_vector(n), MODEL, 0.8, f"photo{n}.jpg")
    return Blob(path.read_bytes())


@pytest.fixture
def gallery_file(tmp_path, base_gallery) -> Path:
    path = tmp_path / "g.db"
    path.write_bytes(base_gallery)
    path.chmod(0o600)
    return path


def sql(*statements):
    def change(path: Path) -> None:
        db = sqlite3.connect(path)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()
    return change


def rewrite(make):
    def change(path: Path) -> None:
        path.unlink()
        make(path)
    return change


def corrupt_bytes(offset_of, data: bytes):
    def change(path: Path) -> None:
        blob = bytearray(path.read_bytes())
        start = offset_of(len(blob))
        blob[start: start + len(data)] = data
        path.write_bytes(bytes(blob))
    return change


def foreign_db(path: Path) -> None:
    sql("CREATE TABLE notes (text TEXT)", "INSERT INTO notes VALUES ('mine')")(path)


def empty_db(path: Path) -> None:
    sqlite3.connect(path).execute("VACUUM").connection.close()


def truncate_to(size_of):
    def change(path: Path) -> None:
        os.truncate(path, size_of(path.stat().st_size))
    return change


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def link_to_missing(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("gone.db"))


DAMAGE = {
    "newer-version": (sql("PRAGMA user_version = 99"), "made by a newer OneShot (schema 99"),
    "negative-version": (sql("PRAGMA user_version = -3"), "damaged (schema version -3)"),
    "version-zero": (sql("PRAGMA user_version = 0"), "damaged (schema version 0)"),
    "no-embeddings-table": (sql("DROP TABLE embeddings"), "the embeddings table is missing"),
    "no-models-table": (sql("PRAGMA foreign_keys = OFF", "DROP TABLE models"), "the models table is missing"),
    "no-note-column": (sql("ALTER TABLE people DROP COLUMN note"), "the people table has no note column"),
    "people-is-a-view": (sql("ALTER TABLE people RENAME TO persons", "CREATE VIEW people AS SELECT * FROM persons"),
                         "the people table is missing"),
    "model-of-0-dimensions": (sql("UPDATE models SET dimensions = 0"), "has 0-d vectors"),
    "model-of-text-dimensions": (sql("UPDATE models SET dimensions = 'many'"), "-d vectors"),
    "other-application-id": (sql("PRAGMA application_id = 1234"), "an SQLite database of another program"),
    "foreign-schema": (rewrite(foreign_db), "an SQLite database of another program"),
    "empty-sqlite-file": (rewrite(empty_db), "an empty SQLite database"),
    "text-file": (rewrite(lambda p: p.write_text("not a database at all\n" * 100)), "not an SQLite database"),
    "zero-length": (rewrite(lambda p: p.write_bytes(b"")), "an empty file (0 bytes)"),
    "header-only": (truncate_to(lambda size: 60), "truncated to 60 bytes"),
    "truncated-mid-page": (truncate_to(lambda size: size // 2 + 100), "is not a whole number of 4096-byte pages"),
    "truncated-whole-pages": (truncate_to(lambda size: size - 8192), "truncated: "),
    "garbage-page": (corrupt_bytes(lambda size: size // 2 // 4096 * 4096, b"\xff" * 4096), "damaged (integrity"),
    "bad-page-size": (corrupt_bytes(lambda size: 16, b"\x03\x00"), "damaged (its header is corrupt)"),
    "zeroed-schema-page": (corrupt_bytes(lambda size: 100, bytes(3996)), "damaged"),
    "directory": (directory, "is a directory"),
    "fifo": (fifo, "not a regular file"),
    "link-to-missing-file": (link_to_missing, "a symbolic link to a file that does not exist"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_galleries_are_refused_with_one_line_and_left_untouched(gallery_file, case):
    damage, message = DAMAGE[case]
    damage(gallery_file)
    regular = gallery_file.is_file() and not gallery_file.is_symlink()
    before = fingerprint(gallery_file) if regular else None
    start = time.perf_counter()
    for readonly in (True, False):
        with pytest.raises(GalleryError) as caught:
            Gallery(gallery_file, readonly=readonly)
        error = caught.value
        assert error.exit_code == 2 and "\n" not in str(error), str(error)
        assert str(error).startswith(f"{gallery_file}: ") and message in str(error), str(error)
    assert time.perf_counter() - start < 5  # a FIFO is refused at once, never opened
    if regular:
        assert fingerprint(gallery_file) == before
    assert {p.name for p in gallery_file.parent.iterdir()} <= {"g.db", "g.db-wal", "g.db-shm", "gone.db"}


def test_a_damaged_gallery_through_the_cli(gallery_file, capsys):
    sql("DROP TABLE embeddings")(gallery_file)
    before = fingerprint(gallery_file)
    for command in (["people"], ["forget", "person 1"], ["rename", "person 1", "x"], ["export", "out.zip"]):
        code = main([command[0], "--gallery", str(gallery_file), *command[1:]])
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert err.splitlines() == [f"oneshot: {gallery_file}: the gallery is damaged (the embeddings table is "
                                    "missing)"]
    assert fingerprint(gallery_file) == before


def test_a_device_is_not_a_gallery():
    for readonly in (True, False):
        with pytest.raises(GalleryError, match="not a regular file"):
            Gallery("/dev/null", readonly=readonly)


NAN = np.full(128, np.nan, "<f4").tobytes()
INF = np.full(128, np.inf, "<f4").tobytes()
PNG_HEADER_100000 = bytes.fromhex("89504e470d0a1a0a0000000d49484452000186a0000186a008020000")

CONTENT_DAMAGE = {
    "nan-vector": ("UPDATE embeddings SET vector = ? WHERE sample_id = 2", NAN, "vectors",
                   "a stored vector of person 1 is not finite"),
    "inf-vector": ("UPDATE embeddings SET vector = ? WHERE sample_id = 2", INF, "vectors",
                   "a stored vector of person 1 is not finite"),
    "short-vector": ("UPDATE embeddings SET vector = ? WHERE sample_id = 2", b"\0" * 100, "vectors",
                     "a stored vector of person 1 is 25 numbers, not 128"),
    "text-vector": ("UPDATE embeddings SET vector = ? WHERE sample_id = 2", "text", "vectors",
                    "a stored vector of person 1 is str, not 128"),
    "chip-not-png": ("UPDATE samples SET chip = ? WHERE id = 2", b"GIF89a", "samples", "is damaged (not a PNG)"),
    "chip-claims-100000px": ("UPDATE samples SET chip = ? WHERE id = 2", PNG_HEADER_100000, "samples",
                             "100000x100000 pixels"),
    "chip-truncated-png": ("UPDATE samples SET chip = substr(chip, 1, 200) WHERE id = ?", 2, "samples",
                           "not a readable PNG"),
}


@pytest.mark.parametrize("case", list(CONTENT_DAMAGE))
def test_damaged_rows_are_reported_by_what_reads_them_and_can_be_forgotten(gallery_file, case):
    statement, value, reader, message = CONTENT_DAMAGE[case]
    db = sqlite3.connect(gallery_file)
    db.execute(statement, (value,))
    db.commit()
    db.close()
    before = fingerprint(gallery_file)
    with Gallery(gallery_file, readonly=True) as gallery:
        assert [p.name for p in gallery.people()] == [f"person {n}" for n in range(4)]  # listing still works
        with pytest.raises(GalleryError, match=re.escape(message)) as caught:
            getattr(gallery, reader)(MODEL) if reader == "vectors" else getattr(gallery, reader)()
        assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
        if reader == "samples":  # the manager's icons: the damaged chip costs its own icon only
            assert [name for name, (chip, _) in gallery.thumbnails().items() if chip is None] == ["person 1"]
    assert fingerprint(gallery_file) == before
    with Gallery(gallery_file, protection="none") as gallery:
        assert gallery.forget("person 1") == 1
        assert gallery.vectors(MODEL).names == ["person 0", "person 2", "person 3"]
        assert len(gallery.samples()) == 3 and len(gallery.thumbnails()) == 3


def test_opening_and_reading_never_write(gallery_file):
    before = fingerprint(gallery_file)
    for readonly in (True, False):
        with Gallery(gallery_file, readonly=readonly) as gallery:
            gallery.people(), gallery.vectors(MODEL), gallery.samples(), gallery.thumbnails(), gallery.revision
            gallery.sample_vectors(MODEL), gallery.count_missing(MODEL), gallery.person("PERSON 2")
    assert fingerprint(gallery_file) == before
    # no write lock is taken either: opening works while another program holds it for a write
    holder = sqlite3.connect(gallery_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("DELETE FROM people WHERE name = 'person 3'")
    try:
        start = time.perf_counter()
        for readonly in (True, False):
            with Gallery(gallery_file, readonly=readonly) as gallery:
                assert len(gallery.people()) == 4  # the uncommitted delete is not seen
        assert time.perf_counter() - start < 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_reading_a_missing_gallery_creates_nothing(tmp_path):
    with Gallery(tmp_path / "none" / "g.db", readonly=True) as gallery:
        assert gallery.people() == [] and gallery.read_only
        assert gallery.vectors(MODEL).matrix.shape == (0, 0)
        with pytest.raises(ReadOnlyGalleryError):
            gallery.forget("x")
    assert list(tmp_path.iterdir()) == []


def test_a_new_gallery_and_its_reserve_are_private(tmp_path):
    old_umask = os.umask(0)
    try:
        Gallery(tmp_path / "new.db", protection="none").close()
    finally:
        os.umask(old_umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new.db.reserve", "new.db"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o600}


# -- two processes creating one gallery -----------------------------------------------------------


def _create_and_enrol(path: str, name: str, chip_png: bytes, barrier, results) -> None:
    try:
        barrier.wait(timeout=30)
        with Gallery(path, protection="none") as gallery:
            gallery.enroll(name, chip_png, unit_vector(len(name)), MODEL, 0.5, "race")
        results.put((name, "ok"))
    except BaseException:  # noqa: B036 (reported to the parent)
        results.put((name, traceback.format_exc()))


@pytest.mark.slow
def test_two_processes_creating_the_same_new_gallery_both_succeed(tmp_path, chips):
    chip_png = cv2.imencode(".png", chips[0])[1].tobytes()  # no OpenCV in the forked children
    context = multiprocessing.get_context("fork")
    for round_number in range(20):
        path = tmp_path / f"round{round_number}" / "g.db"  # the folder does not exist either
        barrier, results = context.Barrier(2), context.Queue()
        children = [context.Process(target=_create_and_enrol, args=(str(path), name, chip_png, barrier, results))
                    for name in ("alpha", "beta")]
        for child in children:
            child.start()
        outcomes = dict(results.get(timeout=60) for _ in children)
        for child in children:
            child.join(timeout=60)
        assert outcomes == {"alpha": "ok", "beta": "ok"}, (round_number, outcomes)
        assert sorted(p.name for p in path.parent.iterdir()) == [".g.db.reserve", "g.db"]  # no temporaries
        with Gallery(path, readonly=True) as gallery:
            assert [p.name for p in gallery.people()] == ["alpha", "beta"]


# -- read-only files, folders and media ------------------------------------------------------------


def _in_child_as(uid: int | None, function):
    """Run ``function`` in a forked child, as ``uid`` when given (root dropping its rights):
    root ignores file modes, so a read-only test as root would prove nothing."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(reader)
        try:
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            result = ("ok", function())
        except BaseException:  # noqa: B036 (reported to the parent)
            result = ("error", traceback.format_exc())
        with os.fdopen(writer, "wb") as stream:
            pickle.dump(result, stream)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as stream:
        status, value = pickle.load(stream)
    os.waitpid(pid, 0)
    assert status == "ok", value
    return value


def _read_only_checks(path: Path, reason: str) -> dict:
    """What a reading and a writing user see; runs in the child (cli output captured by hand)."""
    import contextlib as _contextlib
    import io

    seen = {}
    with Gallery(path, readonly=True) as gallery:
        seen["readonly-people"] = [p.name for p in gallery.people()]
        seen["readonly-vectors"] = gallery.vectors(MODEL).matrix.shape
    with Gallery(path, protection="none") as gallery:
        seen["default-read-only"] = gallery.read_only
        seen["default-people"] = [p.name for p in gallery.people()]
        seen["default-samples"] = len(gallery.samples())
        try:
            gallery.forget("person 1")
            seen["forget"] = "forgot"
        except ReadOnlyGalleryError as error:
            seen["forget"] = (error.exit_code, str(error))
    for command in (["people"], ["forget", "person 1"]):
        out, err = io.StringIO(), io.StringIO()
        with _contextlib.redirect_stdout(out), _contextlib.redirect_stderr(err):
            code = main([command[0], "--gallery", str(path), *command[1:]])
        seen[f"cli-{command[0]}"] = (code, out.getvalue(), err.getvalue())
    return seen


def _assert_read_only(seen: dict, path: Path, reason: str) -> None:
    names = [f"person {n}" for n in range(4)]
    assert seen["readonly-people"] == names and seen["readonly-vectors"] == (4, 128)
    assert seen["default-read-only"] is True and seen["default-people"] == names and seen["default-samples"] == 4
    assert seen["forget"] == (2, f"{path}: cannot change the gallery: {reason}")
    code, out, err = seen["cli-people"]
    assert code == 0 and out.splitlines()[0].startswith("person 0\t1 sample\tsince ") and err == ""
    assert seen["cli-forget"] == (2, "", f"oneshot: {path}: cannot change the gallery: {reason}\n")


@pytest.fixture
def world_readable_folder(base_gallery, monkeypatch):
    """A folder another user can reach (tmp_path's parents are root-only), with the gallery in it."""
    folder = Path(tempfile.mkdtemp(prefix="oneshot-ro-", dir="/tmp"))
    folder.chmod(0o755)
    (folder / "g.db").write_bytes(base_gallery)
    monkeypatch.setenv("ONESHOT_SETTINGS", str(folder / "no-settings.json"))
    main(["people", "--gallery", str(folder / "warm-up.db")])  # every module imported before the fork
    yield folder
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    folder.chmod(0o755)
    shutil.rmtree(folder)


def test_read_only_file_and_folder_are_read_and_never_written(world_readable_folder, capsys):
    path = world_readable_folder / "g.db"
    path.chmod(0o444)
    world_readable_folder.chmod(0o555)
    before = fingerprint(path)
    uid = 65534 if os.geteuid() == 0 else None  # as root: drop to "nobody", whom the modes do bind
    seen = _in_child_as(uid, lambda: _read_only_checks(path, "the file is read-only (no permission to write it)"))
    capsys.readouterr()
    _assert_read_only(seen, path, "the file is read-only (no permission to write it)")
    assert fingerprint(path) == before
    assert sorted(p.name for p in world_readable_folder.iterdir()) == ["g.db"]  # not even a -shm: immutable read


def test_read_only_folder_with_a_writable_file(world_readable_folder, capsys):
    path = world_readable_folder / "g.db"
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)  # nobody may write the file, not the folder
    path.chmod(0o644)
    world_readable_folder.chmod(0o555)
    before = fingerprint(path)
    reason = "its folder is read-only (SQLite needs to write its log beside it)"
    seen = _in_child_as(65534 if os.geteuid() == 0 else None, lambda: _read_only_checks(path, reason))
    capsys.readouterr()
    _assert_read_only(seen, path, reason)
    assert fingerprint(path) == before


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, size: str):
    """A real tmpfs at ``folder``; skips with the reason where this process may not mount."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount(8) for a real small or read-only file system; not root here, and "
                    "LD_PRELOAD or ptrace tricks would not be the real thing")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted in this sandbox ({result.stderr.strip()}); "
                    "no other mechanism gives a real ENOSPC or EROFS")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_read_only_media(tmp_path, base_gallery, capsys, monkeypatch):
    monkeypatch.setenv("ONESHOT_SETTINGS", str(tmp_path / "no-settings.json"))
    with mounted_tmpfs(tmp_path / "media", "4m") as media:
        path = media / "g.db"
        path.write_bytes(base_gallery)
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        before = fingerprint(path)
        seen = _read_only_checks(path, "it is on a read-only file system")
        capsys.readouterr()
        _assert_read_only(seen, path, "it is on a read-only file system")
        with Gallery(path, readonly=True) as gallery:
            assert export_gallery(gallery, MODEL, tmp_path / "copy.zip", None) == 4  # exported elsewhere
        with pytest.raises(ReadOnlyGalleryError, match="read-only file system"):
            Gallery(media / "new.db", protection="none")
        assert fingerprint(path) == before and sorted(p.name for p in media.iterdir()) == ["g.db"]


# -- a full disk ---------------------------------------------------------------------------------


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, bytes(block))
            except OSError as error:
                assert error.errno == 28  # ENOSPC
    finally:
        os.close(fd)
    return filler


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_full_disk(tmp_path, pipeline, people, capsys, monkeypatch, chips):
    """Real ENOSPC from a 3 MB tmpfs: failing writes say so, then everything still works."""
    from core.vision.imaging import load_image

    monkeypatch.setenv("ONESHOT_SETTINGS", str(tmp_path / "no-settings.json"))
    monkeypatch.setenv("ONESHOT_EXPORT_PASSPHRASE", "full disk")  # the export below is encrypted, as by default
    def enrol(path: Path, names: list[str]) -> None:
        with Gallery(path, protection="none") as gallery:
            for name in names:
                image = load_image(people[name][0])
                result = max(pipeline.analyse(image), key=lambda r: r.face.area)
                gallery.enroll(name, result.chip, result.embedding, MODEL, 0.9, str(people[name][0]))

    enrol(tmp_path / "rose.db", ["rose_leslie"])
    with Gallery(tmp_path / "rose.db", readonly=True) as gallery:
        export_gallery(gallery, MODEL, tmp_path / "rose.zip", None)
    with mounted_tmpfs(tmp_path / "disk", "3m") as disk:
        gallery_path = disk / "g.db"
        enrol(gallery_path, ["barack_obama", "joe_biden"])
        with Gallery(gallery_path, readonly=True) as gallery:
            before = gallery.content_digest()
        filler = fill(disk)

        with Gallery(gallery_path, protection="none") as gallery:  # the failing writes
            with pytest.raises(DiskFullError, match="disk full") as caught:
                gallery.enroll("new", chips[0], unit_vector(0), MODEL, 0.5, "x")
            assert caught.value.exit_code == 2
        for command in (("import", tmp_path / "rose.zip"), ("rename", "joe_biden", "Joseph"),
                        ("export", disk / "out.zip")):
            code, out, err = cli(capsys, command[0], "--gallery", gallery_path, *command[1:])
            assert code == 2 and out == "" and len(err.splitlines()) == 1 and "disk full" in err, (command, err)
        with pytest.raises(DiskFullError, match="disk full: cannot create the gallery"):
            Gallery(disk / "another.db", protection="none")

        with Gallery(gallery_path, readonly=True) as gallery:  # nothing changed, nothing damaged
            assert gallery.content_digest() == before
        code, out, err = cli(capsys, "people", "--gallery", gallery_path)
        assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["barack_obama", "joe_biden"]
        code, out, err = cli(capsys, "identify", "--gallery", gallery_path, "--json", people["joe_biden"][1])
        assert code == 0, err
        assert max(json.loads(out)[0]["faces"], key=lambda f: f["box"][2] - f["box"][0])["name"] == "joe_biden"
        code, out, err = cli(capsys, "forget", "--gallery", gallery_path, "joe_biden")
        assert code == 0 and out == "forgot joe_biden (1 sample deleted)\n", err
        code, out, err = cli(capsys, "people", "--gallery", gallery_path)
        assert code == 0 and out.startswith("barack_obama\t") and len(out.splitlines()) == 1
        assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize < 1 << 20  # still (nearly) full
        assert not [p for p in disk.iterdir() if p.name.endswith((".partial", ".new"))]

        filler.unlink()  # room again: writing works as before
        with Gallery(gallery_path, protection="none") as gallery:
            gallery.enroll("new", chips[0], unit_vector(0), MODEL, 0.5, "x")
            assert [p.name for p in gallery.people()] == ["barack_obama", "new"]
        with sqlite3.connect(gallery_path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- names with control and terminal-escape characters ---------------------------------------------

HOSTILE = ["\x1b[31mRED\x1b[0m", "bidi\u202eevil", "two\nlines", "tab\there", "back\\slash", "bell\x07",
           "c1\x9b2J", "nul\x00end", " padded "]


def test_hostile_names_are_printed_escaped_and_can_be_forgotten(gallery_file, capsys):
    db = sqlite3.connect(gallery_file)
    for n, name in enumerate(HOSTILE):  # written by another program: our own code refuses such names
        db.execute("INSERT INTO people (name, name_key, created, note) VALUES (?, ?, '2024-01-01', '')",
                   (name, f"key{n}"))
    db.commit()
    db.close()
    code, out, err = cli(capsys, "people", "--gallery", gallery_file)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 4 + len(HOSTILE)  # nobody's name adds a line
    for line in lines:
        assert not any(unicodedata.category(ch)[0] == "C" for ch in line.replace("\t", "")), repr(line)
    listed = [line.split("\t")[0] for line in lines]
    assert "\\x1b[31mRED\\x1b[0m" in listed and "bidi\\u202eevil" in listed and "back\\\\slash" in listed
    code, out, _ = cli(capsys, "people", "--gallery", gallery_file, "--json")
    assert {p["name"] for p in json.loads(out)} >= set(HOSTILE)  # JSON carries them exactly
    for n, name in enumerate(HOSTILE):
        shown = printable(name)
        assert shown in listed
        typed = name if n % 2 else shown  # the exact name, or as listed
        code, out, err = cli(capsys, "forget", "--gallery", gallery_file, typed)
        assert code == 0 and out == f"forgot {shown} (0 samples deleted)\n", (name, err)
    code, out, err = cli(capsys, "forget", "--gallery", gallery_file, "\x1b[2Jnobody")
    assert code == 2 and err == "oneshot: nobody named '\\x1b[2Jnobody' is enrolled\n"
    with Gallery(gallery_file, readonly=True) as gallery:
        assert [p.name for p in gallery.people()] == [f"person {n}" for n in range(4)]


def test_identify_prints_gallery_names_escaped(tmp_path, pipeline, people, capsys, monkeypatch):
    from core.vision.imaging import load_image

    monkeypatch.setenv("ONESHOT_SETTINGS", str(tmp_path / "no-settings.json"))
    path = tmp_path / "g.db"
    image = load_image(people["barack_obama"][0])
    result = max(pipeline.analyse(image), key=lambda r: r.face.area)
    with Gallery(path, protection="none") as gallery:
        gallery.enroll("obama", np.zeros((150, 150, 3), np.uint8), result.embedding, MODEL, 0.9, "x")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE people SET name = ?", ("\x1b]0;pwned\x07\x1b[2J",))
    code, out, err = cli(capsys, "identify", "--gallery", path, people["barack_obama"][1])
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert ": \\x1b]0;pwned\\x07\\x1b[2J (distance " in out
    code, out, err = cli(capsys, "rename", "--gallery", path, "\\x1b]0;pwned\\x07\\x1b[2J", "Barack")
    assert code == 0 and out == "renamed \\x1b]0;pwned\\x07\\x1b[2J to Barack\n"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_printed_names_are_single_line_and_read_back(text):
    shown = printable(text)
    assert not any(unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" for ch in shown)
    assert unescape_name(shown) == text


# -- fuzzing the opener ----------------------------------------------------------------------------


@st.composite
def mutations(draw, size: int):
    kind = draw(st.sampled_from(["flip-header", "flip-anywhere", "truncate", "zero-page", "swap-pages", "overwrite"]))
    if kind == "flip-header":
        return kind, draw(st.lists(st.integers(0, 100 * 8 - 1), min_size=1, max_size=4))
    if kind == "flip-anywhere":
        return kind, draw(st.lists(st.integers(0, size * 8 - 1), min_size=1, max_size=16))
    if kind == "truncate":
        return kind, draw(st.integers(0, size - 1))
    pages = size // 4096
    if kind == "zero-page":
        return kind, draw(st.integers(0, pages - 1))
    if kind == "swap-pages":
        return kind, (draw(st.integers(0, pages - 1)), draw(st.integers(0, pages - 1)))
    return kind, (draw(st.integers(0, size - 1)), draw(st.binary(min_size=1, max_size=200)))


def mutate(blob: bytes, mutation) -> bytes:
    kind, value = mutation
    data = bytearray(blob)
    if kind.startswith("flip"):
        for bit in value:
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "truncate":
        del data[value:]
    elif kind == "zero-page":
        data[value * 4096: (value + 1) * 4096] = bytes(4096)
    elif kind == "swap-pages":
        a, b = sorted(value)
        first, second = bytes(data[a * 4096: (a + 1) * 4096]), bytes(data[b * 4096: (b + 1) * 4096])
        data[a * 4096: (a + 1) * 4096], data[b * 4096: (b + 1) * 4096] = second, first
    else:
        start, chunk = value
        data[start: start + len(chunk)] = chunk
    return bytes(data)


def _read_everything(gallery: Gallery) -> None:
    gallery.people(), gallery.revision, gallery.count_missing(MODEL)
    gallery.vectors(MODEL), gallery.sample_vectors(MODEL), gallery.samples(), gallery.thumbnails()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_galleries_open_or_are_refused_and_are_never_modified(base_gallery, data):
    blob = mutate(base_gallery, data.draw(mutations(len(base_gallery))))
    folder = Path(tempfile.mkdtemp(prefix="oneshot-fuzz-"))
    try:
        path = folder / "g.db"
        path.write_bytes(blob)
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
        before = fingerprint(path)
        outcomes = []
        for readonly in (True, False):
            try:
                with Gallery(path, readonly=readonly) as gallery:
                    _read_everything(gallery)
                outcomes.append("read")
            except OneShotError as error:
                assert error.exit_code == 2 and "\n" not in str(error), str(error)
                outcomes.append(str(error).split(": ", 1)[1].split(" (")[0])
        assert fingerprint(path) == before
        event(" / ".join(dict.fromkeys(outcomes)))
        try:  # and a write, where it opens: done, or our error, never anything else
            with Gallery(path, protection="none") as gallery:
                gallery.forget("person 1")
        except (OneShotError, UnknownPersonError) as error:
            assert error.exit_code == 2 and "\n" not in str(error), str(error)
    finally:
        shutil.rmtree(folder)


def test_header_fields_used_by_the_checks():
    """The offsets the header check reads (SQLite file format, section 1.3)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.db"
        Gallery(path, protection="none").close()
        header = path.read_bytes()[:100]
    assert struct.unpack(">H", header[16:18])[0] == 4096
    assert struct.unpack(">i", header[68:72])[0] == 0x4F534731
    assert struct.unpack(">i", header[60:64])[0] == SCHEMA_VERSION  # user_version
    assert header[18:20] == b"\x02\x02"  # created in WAL mode


def test_errors_are_input_errors():
    assert issubclass(DiskFullError, GalleryError) and issubclass(ReadOnlyGalleryError, GalleryError)
    assert issubclass(GalleryError, InputError) and GalleryError.exit_code == 2
