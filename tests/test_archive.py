"""Gallery exports and imports against hostile files: bombs, lies, bad schemas, planted files, fuzzing.

Every refused import must leave the gallery's content exactly as it was (one transaction),
read only the members the index names, and stay fast and small in memory whatever the zip
claims or contains. Exports are private (0600), never follow or reuse a planted file, and
never replace the gallery itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.storage import archive as archive_module
from core.storage.archive import INDEX, export_gallery, import_archive, read_archive
from core.errors import ArchiveError
from core.cli import main
from core.errors import InputError, OneShotError
from core.errors import DuplicateNameError, GalleryError
from core.storage.repository import Gallery

from gallery_data import MODEL, real_chips, unit_vector


# -- a real gallery and its export, made once ---------------------------------------------------




@pytest.fixture(scope="module")
def chips(data_dir):
    return real_chips(data_dir, 6)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, chips) -> Path:
    """A plain export of three people (one with two samples) written by ``export_gallery``."""
    folder = tmp_path_factory.mktemp("export")
    with Gallery(folder / "source.db") as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(0), MODEL, 0.9, "ana.jpg", note="first")
        gallery.enroll("ana", chips[1], unit_vector(1), MODEL, 0.8, "ana2.jpg", add_to_existing=True)
        gallery.enroll("Bo Ström", chips[2], unit_vector(2), MODEL, 0.7, "bo.jpg")
        gallery.enroll("李雷", chips[3], unit_vector(3), MODEL, 0.6, "li.jpg")
        assert export_gallery(gallery, MODEL, folder / "people.zip", None) == 4
    return folder / "people.zip"


@pytest.fixture
def target(tmp_path, chips) -> Path:
    """A gallery to import into, already holding one person."""
    path = tmp_path / "target.db"
    with Gallery(path) as gallery:
        gallery.enroll("Zed", chips[5], unit_vector(5), MODEL, 0.9, "zed.jpg")
    return path


def content(path: Path) -> tuple[str, list]:
    with Gallery(path, readonly=True) as gallery:
        return gallery.content_digest(), gallery.people()


def index_of(export: Path) -> dict:
    with zipfile.ZipFile(export) as source:
        return json.loads(source.read(INDEX))


def rebuilt(export: Path, out: Path, document=None, index_bytes: bytes | None = None, replace=None, extra=()) -> Path:
    """A copy of ``export`` with another index and/or members replaced or added."""
    replace = replace or {}
    with zipfile.ZipFile(export) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in source.infolist():
            if info.filename == INDEX:
                data = index_bytes if index_bytes is not None else (
                    json.dumps(document).encode() if document is not None else source.read(info))
            else:
                data = replace.get(info.filename, source.read(info))
            copy.writestr(info.filename, data)
        for name, data in extra:
            copy.writestr(name, data)
    return out


def png_chip(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


# -- zips written by hand: lying headers and bombs ------------------------------------------------


def deflate_zeros(mebibytes: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``mebibytes`` MiB of zeros in about 1 KB per MiB: one
    full-flushed block repeated (each is self-contained), then the final block."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zeros = bytes(1 << 20)
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    return block * mebibytes + compressor.flush(), crc, mebibytes << 20


def hand_made_zip(members: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A zip from (name, method, stored bytes, crc, size the headers claim), no checks at all."""
    body, directory = io.BytesIO(), io.BytesIO()
    for name, method, data, crc, size in members:
        encoded = name.encode()
        offset = body.tell()
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size,
                               len(encoded), 0) + encoded + data)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data), size,
                                    len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    count = len(members)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, directory.tell(), body.tell(), 0)
    return body.getvalue() + directory.getvalue() + end


def stored(name: str, data: bytes, claimed: int | None = None):
    return name, zipfile.ZIP_STORED, data, zlib.crc32(data), len(data) if claimed is None else claimed


def bomb_zip(export: Path, where: str, claimed: int | None = None, mebibytes: int = 1100) -> bytes:
    """The export's members, with a member inflating to ``mebibytes`` MiB of zeros at ``where``:
    ``chip`` (replacing the first chip), ``index`` (replacing the index) or ``unreferenced``."""
    data, crc, size = deflate_zeros(mebibytes)
    bomb_member = (None, zipfile.ZIP_DEFLATED, data, crc, size if claimed is None else claimed)
    members = []
    with zipfile.ZipFile(export) as source:
        first_chip = sorted(n for n in source.namelist() if n.startswith("chips/"))[0]
        for info in source.infolist():
            if (where == "chip" and info.filename == first_chip) or (where == "index" and info.filename == INDEX):
                members.append((info.filename,) + bomb_member[1:])
            else:
                members.append(stored(info.filename, source.read(info)))
    if where == "unreferenced":
        members.append(("extra/bomb.bin",) + bomb_member[1:])
    return hand_made_zip(members)


# -- round trip and export safety ---------------------------------------------------------------


def test_round_trip_keeps_names_notes_vectors_and_chips(tmp_path, exported, chips):
    copy = tmp_path / "copy.db"
    with Gallery(copy) as gallery:
        assert tuple(import_archive(gallery, exported, MODEL)) == (3, 4)
        people = {p.name: (p.samples, p.note) for p in gallery.people()}
        assert people == {"Ana": (2, "first"), "Bo Ström": (1, ""), "李雷": (1, "")}
        vectors = gallery.vectors(MODEL)
        stored_chips = [s.chip for s in gallery.samples()]
    assert np.array_equal(vectors.matrix, np.stack([unit_vector(n) for n in range(4)]))
    assert all(np.array_equal(a, b) for a, b in zip(stored_chips, chips[:4]))


def test_export_is_private_atomic_and_replaces_a_loose_file(tmp_path, exported):
    old_umask = os.umask(0)
    try:
        out = tmp_path / "out.zip"
        out.write_text("an older, world-writable file")
        out.chmod(0o666)
        with Gallery(exported.parent / "source.db", readonly=True) as gallery:
            export_gallery(gallery, MODEL, out, None)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert zipfile.ZipFile(out).testzip() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]  # no temporary left behind


def test_export_never_writes_over_the_gallery_by_any_name(tmp_path, chips):
    gallery_path = tmp_path / "g.db"
    with Gallery(gallery_path) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(0), MODEL, 0.9, "a")
    (tmp_path / "symlink.zip").symlink_to(gallery_path)
    os.link(gallery_path, tmp_path / "hardlink.zip")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "via-dir.zip").symlink_to(gallery_path)
    before = hashlib.sha256(gallery_path.read_bytes()).hexdigest(), gallery_path.stat().st_ino
    with Gallery(gallery_path, readonly=True) as gallery:
        gallery.people()
        targets = [gallery_path, tmp_path / "symlink.zip", tmp_path / "hardlink.zip", tmp_path / "sub" / "via-dir.zip",
                   tmp_path / "sub" / ".." / "g.db", Path(f"{gallery_path}-wal"), Path(f"{gallery_path}-shm"),
                   tmp_path / ".g.db.reserve"]
        for destination in targets:
            with pytest.raises(InputError, match="is the gallery") as caught:
                export_gallery(gallery, MODEL, destination, None)
            assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    assert (hashlib.sha256(gallery_path.read_bytes()).hexdigest(), gallery_path.stat().st_ino) == before
    assert not [p for p in tmp_path.rglob("*.partial")]


def test_export_through_the_cli_onto_its_own_gallery(tmp_path, chips, capsys):
    gallery_path = tmp_path / "G.db"
    with Gallery(gallery_path) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(0), MODEL, 0.9, "a")
    before = hashlib.sha256(gallery_path.read_bytes()).hexdigest()
    code = main(["export", "--gallery", str(gallery_path), str(gallery_path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"oneshot: {gallery_path}: is the gallery itself; export to another file "
                                        "(nothing was written)"]
    assert hashlib.sha256(gallery_path.read_bytes()).hexdigest() == before
    with Gallery(gallery_path, readonly=True) as gallery:
        assert [p.name for p in gallery.people()] == ["Ana"]


def test_planted_temporaries_are_never_followed_or_reused(tmp_path, exported, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("must stay")
    out = tmp_path / "out.zip"
    # the old fixed name, planted as a link to the victim: now simply not used
    (tmp_path / ".out.zip.partial").symlink_to(victim)
    with Gallery(exported.parent / "source.db", readonly=True) as gallery:
        export_gallery(gallery, MODEL, out, None)
        assert victim.read_text() == "must stay" and (tmp_path / ".out.zip.partial").is_symlink()
        # an attacker who guessed the random name: exclusive, no-follow creation refuses it
        monkeypatch.setattr(archive_module.secrets, "token_hex", lambda n: "guessed")
        (tmp_path / ".again.zip.guessed.partial").symlink_to(victim)
        (tmp_path / ".file.zip.guessed.partial").write_text("planted")
        (tmp_path / ".file.zip.guessed.partial").chmod(0o666)
        for name in ("again.zip", "file.zip"):
            with pytest.raises(InputError, match="cannot write the export"):
                export_gallery(gallery, MODEL, tmp_path / name, None)
    assert victim.read_text() == "must stay"
    assert (tmp_path / ".file.zip.guessed.partial").read_text() == "planted"
    assert not (tmp_path / "again.zip").exists() and not (tmp_path / "file.zip").exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


# -- bombs and limits ---------------------------------------------------------------------------

BOMB_CHILD = textwrap.dedent(
    """
    import resource, sys, time
    from pathlib import Path
    from core.storage.archive import import_archive
    from core.errors import OneShotError
    from core.storage.repository import Gallery
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with Gallery(Path(sys.argv[2])) as gallery:
        try:
            result = import_archive(gallery, Path(sys.argv[1]), "dlib-resnet-v1")
            message = f"imported {tuple(result)}"
        except OneShotError as error:
            message = f"exit {error.exit_code}: {error}"
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{elapsed:.3f} {baseline // 1024} {peak // 1024} {message}")
    """
)


@pytest.mark.parametrize(
    ("where", "claimed", "expected"),
    [
        ("chip", None, "inflates to more than 512 KB"),
        ("chip", 1000, "damaged export"),  # the header lies small: read stops there, the checksum fails
        ("chip", 400_000, "damaged export"),
        ("index", None, "inflates to more than 65536 KB"),
        ("index", 0xFFFFFFFF, "inflates to more than 65536 KB"),
        ("unreferenced", None, "imported (3, 4)"),  # never inflated at all
    ],
    ids=["chip", "chip-lying-small", "chip-lying-under-limit", "index", "index-claims-4GB", "unreferenced"],
)
def test_zip_bomb_is_refused_quickly_in_bounded_memory(tmp_path, exported, target, where, claimed, expected):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(bomb_zip(exported, where, claimed))
    assert bomb.stat().st_size < 3 << 20  # a few MB that inflate to 1.1 GB
    before = content(target)
    result = subprocess.run([sys.executable, "-c", BOMB_CHILD, str(bomb), str(target)], capture_output=True,
                            text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    elapsed, baseline, peak, message = result.stdout.split(" ", 3)
    assert expected in message
    assert float(elapsed) < 5, message
    assert int(peak) - int(baseline) < 250, f"{peak} MB peak after {baseline} MB at start"
    if where != "unreferenced":
        assert message.startswith("exit 2: ") and content(target) == before


def test_cli_import_of_a_zip_bomb(tmp_path, exported, target, capsys):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(bomb_zip(exported, "chip"))
    before = content(target)
    start = time.perf_counter()
    code = main(["import", "--gallery", str(target), str(bomb)])
    out, err = capsys.readouterr()
    assert time.perf_counter() - start < 5
    assert code == 2 and out == ""
    assert err.splitlines() == [f"oneshot: {bomb}: refused: 'chips/000001.png' inflates to more than 512 KB "
                                "(a zip bomb?)"]
    assert content(target) == before


def test_only_referenced_members_are_inflated(tmp_path, exported, target, monkeypatch):
    bomb_data, crc, size = deflate_zeros(64)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("../../escape.txt", "nested")
    extra = [("../../outside.txt", zipfile.ZIP_STORED, b"traversal", zlib.crc32(b"traversal"), 9),
             ("/etc/passwd", zipfile.ZIP_STORED, b"absolute", zlib.crc32(b"absolute"), 8),
             stored("nested.zip", inner.getvalue()),
             ("bomb.bin", zipfile.ZIP_DEFLATED, bomb_data, crc, size)]
    members = []
    with zipfile.ZipFile(exported) as source:
        members = [stored(info.filename, source.read(info)) for info in source.infolist()]
    archive = tmp_path / "extra.zip"
    archive.write_bytes(hand_made_zip(members + extra))
    opened = []
    original_open = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return original_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    listing = sorted(str(p) for p in tmp_path.parent.rglob("*"))
    with Gallery(target) as gallery:
        assert tuple(import_archive(gallery, archive, MODEL)) == (3, 4)
    assert sorted(opened) == sorted([INDEX] + [n for n, *_ in members if n.startswith("chips/")])
    assert sorted(str(p) for p in tmp_path.parent.rglob("*")) == listing  # nothing extracted anywhere


def test_member_count_directory_and_total_size_are_bounded(tmp_path, exported, target, monkeypatch):
    before = content(target)
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for n in range(60):
            archive.writestr(f"junk/{n}", b"")
    monkeypatch.setattr(archive_module, "MAX_MEMBERS", 50)
    parsed = []
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: parsed.append(a) or pytest.fail("parsed anyway"))
    with pytest.raises(ArchiveError, match="refused: 60 members"):
        read_archive(many)
    monkeypatch.undo()
    monkeypatch.setattr(archive_module, "MAX_CENTRAL_DIRECTORY", 200)
    with pytest.raises(ArchiveError, match="zip directory"):
        read_archive(exported)
    monkeypatch.undo()
    monkeypatch.setattr(archive_module, "MAX_TOTAL_BYTES", 100_000)
    with Gallery(target) as gallery, pytest.raises(ArchiveError, match="in all"):
        import_archive(gallery, exported, MODEL)
    assert content(target) == before


def test_non_regular_files_are_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.zip"
    os.mkfifo(fifo)
    start = time.perf_counter()
    for path, message in ((fifo, "not a regular file"), (tmp_path, "is a directory"), (Path("/dev/null"),
                          "not a regular file"), (tmp_path / "missing.zip", "no such file")):
        with pytest.raises(ArchiveError, match=message):
            read_archive(path)
    assert time.perf_counter() - start < 2


# -- the index against its schema ---------------------------------------------------------------


def _set(path, value):
    def change(document):
        node = document
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return document
    return change


_DELETE = object()
SAMPLE = ("people", 0, "samples", 0)

INDEX_CASES = {
    "not-an-object": (lambda d: [d], "not a OneShot gallery export"),
    "other-format": (_set(("format",), "zip"), "not a OneShot gallery export"),
    "version-2": (_set(("version",), 2), "unknown version"),
    "version-text": (_set(("version",), "1"), "unknown version"),
    "version-true": (_set(("version",), True), "unknown version"),
    "model-missing": (_set(("model_id",), _DELETE), "model_id: not text"),
    "model-number": (_set(("model_id",), 7), "model_id: not text"),
    "model-escape": (_set(("model_id",), "dlib\x1b[2J"), "model_id: empty or has control characters"),
    "model-long": (_set(("model_id",), "m" * 201), "model_id: longer than 200"),
    "people-object": (_set(("people",), {}), "people: not a list"),
    "person-text": (_set(("people", 0), "Ana"), "person 1: not an object"),
    "name-missing": (_set(("people", 0, "name"), _DELETE), "person 1 name: not text"),
    "name-number": (_set(("people", 0, "name"), 42), "person 1 name: not text"),
    "name-empty": (_set(("people", 0, "name"), " "), "a name cannot be empty"),
    "name-escape": (_set(("people", 0, "name"), "\x1b[31mred"), "contains control characters"),
    "name-bidi": (_set(("people", 0, "name"), "abc\u202edef"), "contains control characters"),
    "name-long": (_set(("people", 0, "name"), "n" * 101), "at most 100 characters"),
    "name-surrogate": (_set(("people", 0, "name"), "bad\ud800"), "name: not valid text"),
    "name-twice": (_set(("people", 1, "name"), "ANA"), "the name appears twice"),
    "note-number": (_set(("people", 0, "note"), 3), "note: not text"),
    "samples-text": (_set(("people", 0, "samples"), "x"), "samples: not a list"),
    "sample-list": (_set(SAMPLE, []), "sample 1: not an object"),
    "chip-missing": (_set(SAMPLE + ("chip",), _DELETE), "chip: not text"),
    "chip-absent": (_set(SAMPLE + ("chip",), "chips/nope.png"), "missing 'chips/nope.png'"),
    "chip-twice": (_set(("people", 0, "samples", 1, "chip"), "chips/000001.png"), "is used twice"),
    "chip-is-index": (_set(SAMPLE + ("chip",), INDEX), "is not a PNG"),
    "embedding-missing": (_set(SAMPLE + ("embedding",), _DELETE), "the embedding is not a list"),
    "embedding-text": (_set(SAMPLE + ("embedding",), "0.1"), "the embedding is not a list"),
    "embedding-empty": (_set(SAMPLE + ("embedding",), []), "the embedding is not a list"),
    "embedding-huge": (_set(SAMPLE + ("embedding",), [0.0] * 5000), "the embedding is not a list"),
    "embedding-nested": (_set(SAMPLE + ("embedding",), [[0.1]] * 128), "not a number"),
    "embedding-bools": (_set(SAMPLE + ("embedding",), [True] * 128), "not a number"),
    "embedding-null": (_set(SAMPLE + ("embedding",), [None] * 128), "not a number"),
    "embedding-short": (_set(SAMPLE + ("embedding",), [0.1] * 127), "the embedding has 128 numbers, the first one 127"),
    "embedding-overflow": (_set(SAMPLE + ("embedding",), [1e300] * 128), "not finite"),
    "quality-text": (_set(SAMPLE + ("quality",), "high"), "quality is not a number"),
    "quality-negative": (_set(SAMPLE + ("quality",), -1), "quality is not a number"),
    "quality-above-one": (_set(SAMPLE + ("quality",), 7.5), "quality is not a number"),
    "source-number": (_set(SAMPLE + ("source",), 1), "source: not text"),
    "source-long": (_set(SAMPLE + ("source",), "s" * 5000), "source: longer than 4096"),
}


@pytest.mark.parametrize("case", list(INDEX_CASES))
def test_index_is_checked_against_the_schema(tmp_path, exported, target, case):
    change, message = INDEX_CASES[case]
    archive = rebuilt(exported, tmp_path / "bad.zip", document=change(index_of(exported)))
    before = content(target)
    with Gallery(target) as gallery, pytest.raises(InputError, match=message.replace("(", r"\(")) as caught:
        import_archive(gallery, archive, MODEL)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value) and str(archive) in str(caught.value)
    assert content(target) == before


RAW_INDEX_CASES = {
    "nan-literal": (b'{"format": "oneshot-gallery-export", "version": 1, "model_id": "m", "people": [NaN]}',
                    "not valid JSON"),
    "infinity-in-vector": (None, "not finite"),
    "deep-nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "huge-integer": (b'{"version": ' + b"9" * 5000 + b"}", "not valid JSON"),
    "utf16": ('{"format": "oneshot-gallery-export"}'.encode("utf-16"), "not valid JSON"),
    "latin1": ('{"format": "oneshot-gallery-export", "x": "é"}'.encode("latin-1"), "not valid JSON"),
    "trailing-garbage": (b'{"format": "oneshot-gallery-export"} junk', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
}


@pytest.mark.parametrize("case", list(RAW_INDEX_CASES))
def test_index_that_is_not_json_as_we_write_it(tmp_path, exported, target, case):
    raw, message = RAW_INDEX_CASES[case]
    if raw is None:  # 1e999 parses as infinity
        document = index_of(exported)
        document["people"][0]["samples"][0]["embedding"][5] = "INF"
        raw = json.dumps(document).replace('"INF"', "1e999").encode()
    archive = rebuilt(exported, tmp_path / "bad.zip", index_bytes=raw)
    before = content(target)
    with Gallery(target) as gallery, pytest.raises(ArchiveError, match=message):
        import_archive(gallery, archive, MODEL)
    assert content(target) == before


def chip_variants(chip: np.ndarray) -> dict[str, tuple[bytes, str | None]]:
    bgr = cv2.cvtColor(chip, cv2.COLOR_RGB2BGR)
    good = png_chip(bgr)
    huge_header = bytearray(good)
    huge_header[16:24] = struct.pack(">II", 100_000, 100_000)
    lying_header = bytearray(good)
    lying_header[16:24] = struct.pack(">II", 150, 150)
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as inner:
        inner.writestr("chip.png", good)
    return {
        "grey": (png_chip(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)), None),
        "16-bit": (png_chip(bgr.astype(np.uint16) * 257), None),
        "with-alpha": (png_chip(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)), None),
        "100x100": (png_chip(cv2.resize(bgr, (100, 100))), "100x100 pixels, not 150x150"),
        "150x151": (png_chip(cv2.resize(bgr, (150, 151))), "150x151 pixels"),
        "header-claims-100000x100000": (bytes(huge_header), "100000x100000 pixels"),
        "jpeg": (cv2.imencode(".jpg", bgr)[1].tobytes(), "is not a PNG"),
        "truncated": (good[: len(good) // 2], "not a readable PNG"),
        "zip-in-zip": (nested.getvalue(), "is not a PNG"),
        "empty": (b"", "is not a PNG"),
    }


@pytest.mark.parametrize("variant", ["grey", "16-bit", "with-alpha", "100x100", "150x151",
                                     "header-claims-100000x100000", "jpeg", "truncated", "zip-in-zip", "empty"])
def test_chips_must_be_150x150_pngs(tmp_path, exported, target, chips, variant):
    data, message = chip_variants(chips[0])[variant]
    archive = rebuilt(exported, tmp_path / "chip.zip", replace={"chips/000001.png": data})
    before = content(target)
    with Gallery(target) as gallery:
        if message is None:
            assert tuple(import_archive(gallery, archive, MODEL)) == (3, 4)
            assert all(s.chip.shape == (150, 150, 3) for s in gallery.samples())
            return
        with pytest.raises(ArchiveError, match=message):
            import_archive(gallery, archive, MODEL)
    assert content(target) == before


def test_a_refusal_inside_the_transaction_changes_nothing(tmp_path, exported, target, chips):
    before = content(target)
    document = index_of(exported)
    document["people"][-1]["name"] = "zed"  # already in the target, found only when inserting
    with Gallery(target) as gallery, pytest.raises(DuplicateNameError):
        import_archive(gallery, rebuilt(exported, tmp_path / "dup.zip", document=document), MODEL)
    assert content(target) == before
    document = index_of(exported)
    for person in document["people"]:
        for sample in person["samples"]:
            sample["embedding"] = sample["embedding"][:64]  # the target holds 128-d vectors of this model
    with Gallery(target) as gallery, pytest.raises(ArchiveError, match="have 64 numbers, but model 'dlib-resnet-v1' "
                                                                      "makes 128: not imported, nothing was changed"):
        import_archive(gallery, rebuilt(exported, tmp_path / "dims.zip", document=document), MODEL)
    assert content(target) == before


# -- names already enrolled: fail, skip or merge -------------------------------------------------


def test_skip_leaves_existing_people_untouched_and_imports_the_rest(tmp_path, exported, target, chips):
    with Gallery(target) as gallery:
        gallery.enroll("ANA", chips[4], unit_vector(4), MODEL, 0.5, "mine.jpg", note="keep")
        counts = import_archive(gallery, exported, MODEL, on_conflict="skip")
        assert (counts.people, counts.samples, counts.skipped, counts.merged) == (2, 2, ("ANA",), ())
        people = {p.name: (p.samples, p.note) for p in gallery.people()}
        assert people == {"ANA": (1, "keep"), "Bo Ström": (1, ""), "Zed": (1, ""), "李雷": (1, "")}
        assert [s.source for s in gallery.person_samples("ana")] == ["mine.jpg"]


def test_merge_adds_samples_and_leaves_out_chips_already_there(tmp_path, exported, target, chips):
    with Gallery(target) as gallery:
        gallery.enroll("ana", chips[1], unit_vector(1), MODEL, 0.8, "ana2.jpg", note="mine")  # in the export too
        gallery.enroll("ana", chips[4], unit_vector(4), MODEL, 0.5, "other.jpg", add_to_existing=True)
        counts = import_archive(gallery, exported, MODEL, on_conflict="merge")
        assert (counts.people, counts.samples, counts.merged, counts.duplicates) == (2, 3, (("ana", 1),), 1)
        assert tuple(counts) == (2, 3)  # still unpacks as (people, samples)
        samples = gallery.person_samples("Ana")
        assert [s.source for s in samples] == ["ana2.jpg", "other.jpg", "ana.jpg"]
        assert np.array_equal(samples[2].chip, chips[0]) and gallery.person("ana").note == "mine"
        again = import_archive(gallery, exported, MODEL, on_conflict="merge")  # everything is there now
        assert (again.people, again.samples, again.duplicates) == (0, 0, 4)
        assert again.merged == (("ana", 0), ("Bo Ström", 0), ("李雷", 0))
        assert len(gallery.samples()) == 6


def test_merge_and_skip_keep_every_bound_and_stay_one_transaction(tmp_path, exported, target, chips):
    document = index_of(exported)
    document["people"][0]["samples"][0]["embedding"] = [1e300] * 128
    bad = rebuilt(exported, tmp_path / "overflow.zip", document=document)
    before = content(target)
    for mode in ("skip", "merge"):
        with Gallery(target) as gallery, pytest.raises(ArchiveError, match="not finite"):
            import_archive(gallery, bad, MODEL, on_conflict=mode)
        assert content(target) == before
    document = index_of(exported)
    for person in document["people"]:
        for sample in person["samples"]:
            sample["embedding"] = sample["embedding"][:64]
    short = rebuilt(exported, tmp_path / "dims.zip", document=document)
    with Gallery(target) as gallery:
        gallery.enroll("Bo Ström", chips[4], unit_vector(4), MODEL, 0.5, "bo.jpg")
    before = content(target)
    with Gallery(target) as gallery, pytest.raises(ArchiveError, match="have 64 numbers"):
        import_archive(gallery, short, MODEL, on_conflict="merge")  # refused before the transaction
    with Gallery(target) as gallery, pytest.raises(GalleryError, match="not 64-d"):
        gallery.import_people(read_archive(short).people, MODEL, "merge")  # fails after the merge began
    assert content(target) == before
    with Gallery(target) as gallery, pytest.raises(InputError, match="on_conflict must be one of"):
        import_archive(gallery, exported, MODEL, on_conflict="replace")
    with Gallery(target, readonly=True) as gallery, pytest.raises(GalleryError, match="reading only"):
        import_archive(gallery, exported, MODEL, on_conflict="skip")


def test_a_deleted_person_is_restored_from_a_backup(tmp_path, exported, chips):
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        import_archive(gallery, exported, MODEL)
        gallery.add_negative("Bo Ström", chips[5], unit_vector(5), MODEL, "live")
        gallery.enroll("Bo Ström", chips[4], unit_vector(4), MODEL, 0.5, "new.jpg", add_to_existing=True)
        assert gallery.forget("ana") == 2  # by mistake
        counts = import_archive(gallery, exported, MODEL, on_conflict="skip")
        assert (counts.people, counts.samples, counts.skipped) == (1, 2, ("Bo Ström", "李雷"))
        assert {p.name: p.samples for p in gallery.people()} == {"Ana": 2, "Bo Ström": 2, "李雷": 1}
        assert gallery.person("ana").note == "first" and len(gallery.negatives("Bo Ström")) == 1
        vectors = gallery.vectors(MODEL)
        ana = vectors.matrix[vectors.owners == vectors.names.index("Ana")]
        assert np.array_equal(ana, np.stack([unit_vector(0), unit_vector(1)]))


# -- fuzzing ------------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


def _import_or_refuse(archive: Path, gallery_path: Path) -> str:
    """Either a complete import or our one-line error, exit code 2; never anything else."""
    before = content(gallery_path)
    with Gallery(gallery_path) as gallery:
        try:
            people, samples = import_archive(gallery, archive, MODEL)
        except OneShotError as error:
            assert error.exit_code == 2 and "\n" not in str(error), error
            event(str(error).split(": ", 1)[1][:70])
            refused = True
        else:
            refused = False
            event("imported")
            assert len(gallery.people()) == 1 + people and gallery.count_missing(MODEL) == 0
            assert len(gallery.vectors(MODEL).matrix) == 1 + samples
            assert all(s.chip.shape == (150, 150, 3) for s in gallery.samples())
    if refused:
        assert content(gallery_path) == before
    return "refused" if refused else "imported"


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_mutated_exports_import_completely_or_are_refused(tmp_path_factory, exported, chips, data):
    original = exported.read_bytes()
    mutation = data.draw(st.sampled_from(["flip", "truncate", "overwrite", "insert", "delete"]))
    blob = bytearray(original)
    if mutation == "flip":
        for position in data.draw(st.lists(st.integers(0, len(blob) * 8 - 1), min_size=1, max_size=8)):
            blob[position // 8] ^= 1 << (position % 8)
    elif mutation == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        start = data.draw(st.integers(0, len(blob)))
        chunk = data.draw(st.binary(min_size=1, max_size=64))
        if mutation == "overwrite":
            blob[start: start + len(chunk)] = chunk
        elif mutation == "insert":
            blob[start:start] = chunk
        else:
            del blob[start: start + len(chunk)]
    folder = tmp_path_factory.mktemp("fuzz")
    archive = folder / "mutated.zip"
    archive.write_bytes(bytes(blob))
    gallery_path = folder / "g.db"
    with Gallery(gallery_path) as gallery:
        gallery.enroll("Zed", chips[5], unit_vector(5), MODEL, 0.9, "zed.jpg")
    _import_or_refuse(archive, gallery_path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            yield from _paths(value, prefix + (index,))


def _like(value):
    """Values of the same JSON type as ``value``: most of them pass the type checks and reach the deeper ones."""
    if isinstance(value, str):
        return st.text(max_size=30)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return st.floats(-2, 2) | st.integers(-3, 3)
    if isinstance(value, list):
        return st.lists(st.floats(-1, 1, width=32), min_size=126, max_size=130)
    return json_values


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_any_json_anywhere_in_the_index_imports_or_is_refused(tmp_path_factory, exported, chips, data):
    document = index_of(exported)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from([p for p in _paths(document) if p]))
        node = document
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = data.draw(st.one_of(_like(node[where[-1]]), json_values))
    folder = tmp_path_factory.mktemp("schema")
    archive = rebuilt(exported, folder / "changed.zip", document=document)
    gallery_path = folder / "g.db"
    with Gallery(gallery_path) as gallery:
        gallery.enroll("Zed", chips[5], unit_vector(5), MODEL, 0.9, "zed.jpg")
    _import_or_refuse(archive, gallery_path)
