"""Encrypted gallery exports: nothing readable in the file, exact round trips, wrong passphrases,
tampering, hostile headers, and the ``oneshot export`` / ``import`` passphrase sources.

The forensic test enrols real faces through the real models and searches the export's raw
bytes for every chip, vector, name, note and source it holds; the same needles are found in a
plain export's members, so the search itself is known to work.
"""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.storage.archive import ENCRYPTION, INDEX, export_gallery, import_archive, read_archive
from core.errors import ArchiveError, PassphraseNeededError
from core.cli import main
from core.cli import passphrases
from core.storage.crypto import OVERHEAD, PassphraseParameters
from core.errors import WrongPassphraseError
from core.errors import InputError, OneShotError
from core.storage.repository import Gallery
from core.storage.chips import encode_chip
from core.vision.imaging import load_image

PASSPHRASE = "correct horse battery staple"
VARIABLE = passphrases.EXPORT_VARIABLE
# folder of the shared photos -> (name enrolled, note, photos enrolled)
PEOPLE = {"barack_obama": ("Barack Obama", "met at the town hall", 2),
          "joe_biden": ("Joe Biden", "", 1),
          "kit_harington": ("Kit Harington", "", 2),
          "rose_leslie": ("Rosé Leslie-Ström", "Ünïcode nötes", 1),
          "lin_manuel_miranda": ("林 Manuel Miranda", "", 1)}


@pytest.fixture(scope="module")
def model_id(pipeline) -> str:
    return pipeline.embedder.spec.id


@pytest.fixture(scope="module")
def source(tmp_path_factory, pipeline, people, model_id) -> Path:
    """A gallery of real faces from the shared photos, enrolled through the real models."""
    path = tmp_path_factory.mktemp("source") / "source.db"
    with Gallery(path) as gallery:
        for folder, (name, note, count) in PEOPLE.items():
            for number, photo in enumerate(people[folder][:count]):
                result = max(pipeline.analyse(load_image(photo)), key=lambda r: r.face.area)
                gallery.enroll(name, result.chip, result.embedding, model_id, 0.9 - number / 10, str(photo),
                               note=note, add_to_existing=number > 0)
    return path


@pytest.fixture(scope="module")
def encrypted(source, model_id) -> Path:
    """The source gallery exported with ``PASSPHRASE`` and the real scrypt costs."""
    out = source.parent / "encrypted.zip"
    with Gallery(source, readonly=True) as gallery:
        assert export_gallery(gallery, model_id, out, PASSPHRASE) == 7
    return out


def cheap_export(source: Path, model_id: str, out: Path) -> Path:
    """An export of ``source`` with cheap scrypt costs (n=2**10), for the tests that read it many times."""
    with pytest.MonkeyPatch.context() as patch, Gallery(source, readonly=True) as gallery:
        patch.setattr(PassphraseParameters, "new", classmethod(lambda cls: cls(os.urandom(16), n=1 << 10)))
        export_gallery(gallery, model_id, out, PASSPHRASE)
    return out


@pytest.fixture(scope="module")
def cheap(source, model_id) -> Path:
    return cheap_export(source, model_id, source.parent / "cheap.zip")


@pytest.fixture
def target(tmp_path, source, model_id) -> Path:
    """A gallery to import into, already holding someone."""
    path = tmp_path / "target.db"
    with Gallery(source, readonly=True) as gallery:
        sample = gallery.samples()[-1]
        vector = gallery.sample_vectors(model_id)[sample.id]
    with Gallery(path) as gallery:
        gallery.enroll("Zed", sample.chip, vector, model_id, 0.9, "zed.jpg")
    return path


def digest(path: Path) -> str:
    with Gallery(path, readonly=True) as gallery:
        return gallery.content_digest()


def contents(path: Path, model_id: str) -> tuple:
    """Everything an export carries, comparable: people with notes, samples with chips and vectors."""
    with Gallery(path, readonly=True) as gallery:
        people = [(p.name, p.note, p.samples) for p in gallery.people()]
        vectors = gallery.sample_vectors(model_id)
        samples = [(s.name, s.source, round(s.quality, 6), s.chip.tobytes(), vectors[s.id].tobytes())
                   for s in gallery.samples()]
    return people, sorted(samples)


def members(export: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(export) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezipped(export: Path, out: Path, replace: dict[str, bytes | None]) -> Path:
    """A copy of ``export`` with members replaced (None: left out), checksums valid."""
    with zipfile.ZipFile(export) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as copy:
        for info in source.infolist():
            data = replace.get(info.filename, source.read(info))
            if data is not None:
                copy.writestr(info.filename, data)
    return out


def never_asked():
    pytest.fail("the passphrase was asked for")


# -- forensics: nothing readable ------------------------------------------------------------------


def idat_window(png: bytes) -> bytes:
    """64 bytes from the middle of the PNG's first IDAT chunk: compressed pixels, found only if copied."""
    at = png.index(b"IDAT")
    length = struct.unpack(">I", png[at - 4:at])[0]
    data = png[at + 4:at + 4 + length]
    assert len(data) > 200
    return data[len(data) // 2:len(data) // 2 + 64]


def needles(source: Path, model_id: str) -> list[tuple[str, bytes, bool]]:
    """What must never be readable in an encrypted export: (what, bytes, whether a plain export holds it)."""
    found = []

    def text(what: str, value: str) -> None:
        found.append((what, json.dumps(value)[1:-1].encode(), True))  # as a plain export's index holds it
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            found.append((f"{what} in {encoding}", value.encode(encoding), encoding == "utf-8" and value.isascii()))

    with Gallery(source, readonly=True) as gallery:
        vectors = gallery.sample_vectors(model_id)
        for sample in gallery.samples():
            png = encode_chip(sample.chip)
            vector = vectors[sample.id].astype("<f4")
            found += [("chip PNG", png, True), ("chip IDAT window", idat_window(png), True),
                      ("vector float32", vector.tobytes(), False),
                      ("vector float32 window", vector[40:48].tobytes(), False),
                      ("vector as text", ",".join(repr(float(v)) for v in vector[:3]).encode(), True),
                      ("source", sample.source.encode(), True),
                      ("source folder", Path(sample.source).parent.name.encode(), True)]
        for person in gallery.people():
            text("name", person.name)
            if person.note:
                text("note", person.note)
    return found


def test_an_encrypted_export_holds_no_chip_vector_name_or_source(source, encrypted, model_id, tmp_path):
    raw = encrypted.read_bytes()
    everything = needles(source, model_id)
    assert len(everything) == 7 * 7 + (5 + 2) * 4  # per sample; per name and note
    leaks = [(what, value[:16]) for what, value, _ in everything if value in raw]
    assert not leaks, f"readable in the encrypted export: {leaks}"

    # the search works: what a plain export holds is found in its members
    plain = tmp_path / "plain.zip"
    with Gallery(source, readonly=True) as gallery:
        export_gallery(gallery, model_id, plain, None)
    inflated = b"".join(members(plain).values())
    missing = [(what, value[:16]) for what, value, in_plain in everything if in_plain and value not in inflated]
    assert not missing, f"not found in the plain export either: the search is broken: {missing}"


def test_only_the_header_is_clear_and_every_other_member_is_sealed(encrypted, cheap):
    with zipfile.ZipFile(encrypted) as archive:
        infos = archive.infolist()
        header = json.loads(archive.read(ENCRYPTION))
    names = [info.filename for info in infos]
    assert names[0] == ENCRYPTION and names[-1] == INDEX
    assert names[1:-1] == [f"chips/{n:06d}.png" for n in range(1, 8)]  # numbers, no personal data
    assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
    assert set(header) == {"format", "version", "cipher", "kdf", "salt", "n", "r", "p", "wrapped_key"}
    assert (header["format"], header["version"], header["cipher"], header["kdf"]) == \
        ("oneshot-export-encryption", 1, "AES-256-GCM", "scrypt")
    assert (header["n"], header["r"], header["p"]) == (1 << 17, 8, 1)
    assert len(bytes.fromhex(header["salt"])) == 16 and len(bytes.fromhex(header["wrapped_key"])) == OVERHEAD + 32
    assert json.loads(members(cheap)[ENCRYPTION])["salt"] != header["salt"]  # a new salt and key per export
    for name, data in members(encrypted).items():  # neither a PNG nor JSON (a random nonce may start with "{")
        assert name == ENCRYPTION or not (data.startswith(b"\x89PNG\r\n\x1a\n") or _is_json(data)), name


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


# -- round trip and passphrases -------------------------------------------------------------------


def test_round_trip_gives_the_same_people_chips_and_vectors(tmp_path, source, encrypted, model_id):
    asked = []
    copy = tmp_path / "copy.db"
    with Gallery(copy) as gallery:
        counts = import_archive(gallery, encrypted, model_id, passphrase=lambda: asked.append(1) or PASSPHRASE)
    assert tuple(counts) == (5, 7) and asked == [1]
    assert contents(copy, model_id) == contents(source, model_id)


def test_a_plain_export_never_asks_and_an_encrypted_one_needs_its_passphrase(tmp_path, source, cheap, model_id):
    plain = tmp_path / "plain.zip"
    with Gallery(source, readonly=True) as gallery:
        export_gallery(gallery, model_id, plain, None)
    assert ENCRYPTION not in members(plain)
    assert read_archive(plain, never_asked).sample_count == 7
    with pytest.raises(PassphraseNeededError, match="the export is encrypted: its passphrase is needed") as caught:
        read_archive(cheap)
    assert caught.value.exit_code == 2
    assert read_archive(cheap, PASSPHRASE).sample_count == 7  # a string does as well as a function


def test_a_wrong_passphrase_changes_nothing(target, encrypted, model_id):
    before = digest(target)
    for wrong in ("correct horse battery stapler", "Correct horse battery staple", PASSPHRASE[:-1]):
        with Gallery(target) as gallery, pytest.raises(WrongPassphraseError) as caught:
            import_archive(gallery, encrypted, model_id, passphrase=wrong)
        assert str(caught.value) == f"wrong passphrase for {encrypted}: nothing was imported"
        assert caught.value.exit_code == 2
    with Gallery(target) as gallery, pytest.raises(InputError, match="the passphrase is empty"):
        import_archive(gallery, encrypted, model_id, passphrase="")
    assert digest(target) == before


def test_the_passphrase_is_asked_only_once_an_export_can_be_written(tmp_path, source, model_id):
    with Gallery(source, readonly=True) as gallery:
        with pytest.raises(InputError, match="is the gallery itself"):
            export_gallery(gallery, model_id, source, never_asked)
        with pytest.raises(InputError, match="is a directory"):
            export_gallery(gallery, model_id, tmp_path, never_asked)
        with pytest.raises(InputError, match="no another-model vector"):
            export_gallery(gallery, "another-model", tmp_path / "x.zip", never_asked)

        def refuse():
            raise InputError("no passphrase was given: nothing was changed")

        with pytest.raises(InputError, match="no passphrase was given"):
            export_gallery(gallery, model_id, tmp_path / "refused.zip", refuse)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left behind


def test_an_encrypted_export_is_private_and_replaces_atomically(tmp_path, source, model_id):
    out = tmp_path / "out.zip"
    out.write_text("an older file")
    out.chmod(0o666)
    with Gallery(source, readonly=True) as gallery:
        export_gallery(gallery, model_id, out, PASSPHRASE)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and zipfile.ZipFile(out).testzip() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]


# -- tampering and hostile headers ---------------------------------------------------------------


def flipped(data: bytes, at: int | None = None) -> bytes:
    at = len(data) // 2 if at is None else at
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


TAMPERING = {
    "chip-byte-flipped": (lambda m, o: {"chips/000002.png": flipped(m["chips/000002.png"])},
                          ArchiveError, "'chips/000002.png' fails its integrity check"),
    "chip-nonce-flipped": (lambda m, o: {"chips/000001.png": flipped(m["chips/000001.png"], 0)},
                           ArchiveError, "'chips/000001.png' fails its integrity check"),
    "chips-swapped": (lambda m, o: {"chips/000001.png": m["chips/000003.png"], "chips/000003.png":
                                    m["chips/000001.png"]}, ArchiveError, "'chips/000001.png' fails"),
    "chip-truncated": (lambda m, o: {"chips/000004.png": m["chips/000004.png"][:OVERHEAD - 1]},
                       ArchiveError, "'chips/000004.png' fails its integrity check"),
    "chip-made-plain": (lambda m, o: {"chips/000001.png": b"\x89PNG\r\n\x1a\n" + bytes(100)},
                        ArchiveError, "'chips/000001.png' fails its integrity check"),
    "chip-missing": (lambda m, o: {"chips/000005.png": None}, ArchiveError, "missing 'chips/000005.png'"),
    "index-byte-flipped": (lambda m, o: {INDEX: flipped(m[INDEX])},
                           ArchiveError, "'oneshot-export.json' fails its integrity check"),
    "index-of-another-export": (lambda m, o: {INDEX: o[INDEX]},
                                ArchiveError, "'oneshot-export.json' fails its integrity check"),
    "chip-of-another-export": (lambda m, o: {"chips/000001.png": o["chips/000001.png"]},
                               ArchiveError, "'chips/000001.png' fails its integrity check"),
    "header-of-another-export": (lambda m, o: {ENCRYPTION: o[ENCRYPTION]},
                                 ArchiveError, "'oneshot-export.json' fails its integrity check"),
    "wrapped-key-flipped": (lambda m, o: {ENCRYPTION: _header(m, wrapped_key=flipped(
        bytes.fromhex(json.loads(m[ENCRYPTION])["wrapped_key"])).hex())}, WrongPassphraseError, "wrong passphrase"),
    "salt-changed": (lambda m, o: {ENCRYPTION: _header(m, salt="00" * 16)}, WrongPassphraseError, "wrong passphrase"),
    "header-removed": (lambda m, o: {ENCRYPTION: None}, ArchiveError, "the index is not valid JSON"),
}


def _header(members_: dict[str, bytes], **changes) -> bytes:
    return json.dumps({**json.loads(members_[ENCRYPTION]), **changes}).encode()


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_tampered_member_is_refused_by_name_and_nothing_is_imported(tmp_path, source, cheap, target, model_id,
                                                                       case):
    change, error, message = TAMPERING[case]
    original = members(cheap)
    bad = rezipped(cheap, tmp_path / "bad.zip", change(original, members(cheap_export(source, model_id, tmp_path / "o.zip"))))
    before = digest(target)
    with Gallery(target) as gallery, pytest.raises(error, match=message) as caught:
        import_archive(gallery, bad, model_id, passphrase=PASSPHRASE)
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    assert digest(target) == before


def test_a_byte_flipped_in_the_file_names_the_damaged_member(tmp_path, cheap, target, model_id):
    raw = cheap.read_bytes()
    with zipfile.ZipFile(cheap) as archive:
        info = archive.getinfo("chips/000003.png")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    bad = tmp_path / "flipped.zip"
    bad.write_bytes(flipped(raw, start + info.compress_size // 2))
    before = digest(target)
    with Gallery(target) as gallery, pytest.raises(ArchiveError, match="chips/000003.png"):
        import_archive(gallery, bad, model_id, passphrase=PASSPHRASE)
    assert digest(target) == before


HOSTILE_HEADERS = {
    "scrypt-n-2**40": ({"n": 2 ** 40}, "scrypt costs out of range"),
    "scrypt-n-not-a-power-of-two": ({"n": (1 << 17) + 1}, "scrypt costs out of range"),
    "scrypt-r-huge": ({"r": 10 ** 6}, "scrypt costs out of range"),
    "scrypt-p-huge": ({"p": 10 ** 4}, "scrypt costs out of range"),
    "scrypt-n-text": ({"n": "131072"}, "bad scrypt costs"),
    "scrypt-n-true": ({"n": True}, "bad scrypt costs"),
    "scrypt-n-float": ({"n": 131072.0}, "bad scrypt costs"),
    "kdf-other": ({"kdf": "argon2id"}, "unknown key derivation"),
    "salt-short": ({"salt": "00"}, "bad salt"),
    "salt-not-hex": ({"salt": "zz" * 16}, "non-hexadecimal"),
    "wrapped-key-short": ({"wrapped_key": "00" * 20}, "bad wrapped key"),
    "wrapped-key-missing": ({"wrapped_key": None}, "bad wrapped key"),
    "wrapped-key-not-hex": ({"wrapped_key": "zz" * (OVERHEAD + 32)}, "non-hexadecimal"),
    "cipher-other": ({"cipher": "ChaCha20-Poly1305"}, "encrypted in a way this version cannot read"),
    "version-2": ({"version": 2}, "encrypted in a way this version cannot read"),
    "format-other": ({"format": "something"}, "is not a OneShot encryption header"),
}


@pytest.mark.parametrize("case", list(HOSTILE_HEADERS))
def test_a_hostile_header_is_refused_at_once_without_asking(tmp_path, cheap, case):
    changes, message = HOSTILE_HEADERS[case]
    bad = rezipped(cheap, tmp_path / "bad.zip", {ENCRYPTION: _header(members(cheap), **changes)})
    start = time.perf_counter()
    with pytest.raises(ArchiveError, match=message) as caught:
        read_archive(bad, never_asked)
    assert time.perf_counter() - start < 0.5
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


@pytest.mark.parametrize(("header", "message"), [
    (b"{" * 5000, "'oneshot-encryption.json' inflates to more than 4 KB"),
    (b"[]", "is not a OneShot encryption header"),
    (b"\xff\xfe{}", "oneshot-encryption.json is not valid JSON"),
    (b"[" * 2000 + b"]" * 2000, "oneshot-encryption.json is nested too deeply"),
])
def test_a_header_that_is_not_ours_is_refused(tmp_path, cheap, header, message):
    bad = rezipped(cheap, tmp_path / "bad.zip", {ENCRYPTION: header})
    with pytest.raises(ArchiveError, match=message):
        read_archive(bad, never_asked)


def test_bounds_hold_for_sealed_members(tmp_path, cheap):
    """A sealed member is read within the same limits: a bomb in place of a chip, a header twice."""
    bomb = io.BytesIO()
    with zipfile.ZipFile(cheap) as source, zipfile.ZipFile(bomb, "w") as copy:
        for info in source.infolist():
            data = bytes(8 << 20) if info.filename == "chips/000001.png" else source.read(info)
            copy.writestr(info.filename, data, zipfile.ZIP_DEFLATED)
    (tmp_path / "bomb.zip").write_bytes(bomb.getvalue())
    assert len(bomb.getvalue()) < 1 << 20
    with pytest.raises(ArchiveError, match="'chips/000001.png' inflates to more than 512 KB"):
        read_archive(tmp_path / "bomb.zip", PASSPHRASE)
    twice = tmp_path / "twice.zip"
    twice.write_bytes(cheap.read_bytes())
    with zipfile.ZipFile(twice, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr(ENCRYPTION, members(cheap)[ENCRYPTION])
    with pytest.raises(ArchiveError, match="'oneshot-encryption.json' appears 2 times"):
        read_archive(twice, never_asked)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@FUZZ
@given(data=st.data())
def test_a_mutated_encrypted_export_imports_exactly_or_is_refused(tmp_path_factory, cheap, source, model_id, data):
    """Authenticated encryption: whatever imports at all is exactly what was exported. Bits flip
    in the file (the zip's checksums catch most) or in one member rezipped with valid checksums."""
    folder = tmp_path_factory.mktemp("fuzz")
    original = members(cheap)
    where = data.draw(st.sampled_from(["the file"] + list(original)))
    blob = bytearray(cheap.read_bytes() if where == "the file" else original[where])
    for position in data.draw(st.lists(st.integers(0, len(blob) * 8 - 1), min_size=1, max_size=4)):
        blob[position // 8] ^= 1 << (position % 8)
    if where == "the file":
        (folder / "mutated.zip").write_bytes(bytes(blob))
    else:
        rezipped(cheap, folder / "mutated.zip", {where: bytes(blob)})
    try:
        archive = read_archive(folder / "mutated.zip", PASSPHRASE)
    except OneShotError as error:
        assert error.exit_code == 2 and "\n" not in str(error), error
        event(str(error).split(": ", 1)[1][:60])
        return
    event("imported")
    with Gallery(folder / "g.db") as gallery:
        gallery.import_people(archive.people, archive.model_id, "fail")
    assert contents(folder / "g.db", model_id) == contents(source, model_id)


# -- the command line ---------------------------------------------------------------------------


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_encrypts_with_the_variable_and_import_reads_it(tmp_path, source, model_id, capsys, monkeypatch):
    monkeypatch.setenv(VARIABLE, PASSPHRASE)
    out_file = tmp_path / "people.zip"
    code, out, err = cli(capsys, "export", "--gallery", source, out_file)
    assert (code, out, err) == (0, f"exported 7 samples to {out_file}\n", "")
    assert ENCRYPTION in members(out_file) and stat.S_IMODE(out_file.stat().st_mode) == 0o600
    code, out, err = cli(capsys, "export", "--gallery", source, "--json", tmp_path / "again.zip")
    assert code == 0 and json.loads(out) == {"file": str(tmp_path / "again.zip"), "samples": 7, "encrypted": True}
    code, out, err = cli(capsys, "import", "--gallery", tmp_path / "copy.db", out_file)
    assert code == 0 and out.endswith(f"imported 5 people (7 samples) from {out_file}\n"), err
    assert contents(tmp_path / "copy.db", model_id) == contents(source, model_id)


def test_cli_export_without_a_passphrase_source_writes_nothing(tmp_path, source, capsys, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal to ask at
    folder = tmp_path / "out"
    folder.mkdir()
    code, out, err = cli(capsys, "export", "--gallery", source, folder / "people.zip")
    assert code == 2 and out == ""
    assert err == f"oneshot: Export passphrase: a passphrase is needed; set {VARIABLE} (no terminal to ask at)\n"
    assert list(folder.iterdir()) == []


def test_cli_export_asks_twice_at_a_terminal(tmp_path, source, capsys, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    typed, prompts = [], []
    monkeypatch.setattr(passphrases.getpass, "getpass", lambda prompt: prompts.append(prompt) or typed.pop(0))
    for answers, expected in ((["one", "two"], "the two passphrases differ: nothing was changed"),
                              ([""], "no passphrase was given: nothing was changed")):
        typed[:] = answers
        code, out, err = cli(capsys, "export", "--gallery", source, tmp_path / "people.zip")
        assert (code, out, err) == (2, "", f"oneshot: {expected}\n")
        assert not list(tmp_path.iterdir())
    typed[:] = [PASSPHRASE, PASSPHRASE]
    code, _, err = cli(capsys, "export", "--gallery", source, tmp_path / "people.zip")
    assert code == 0 and typed == [], err
    first, again = "Export passphrase: ", "Repeat the passphrase: "
    assert prompts == [first, again, first, first, again]  # an empty first answer is not asked again
    assert read_archive(tmp_path / "people.zip", PASSPHRASE).sample_count == 7


def test_cli_plain_export_warns_and_is_a_plain_zip(tmp_path, source, capsys, monkeypatch):
    monkeypatch.setenv(VARIABLE, PASSPHRASE)  # --plain wins over the variable
    out_file = tmp_path / "plain.zip"
    code, out, err = cli(capsys, "export", "--plain", "--gallery", source, out_file)
    assert code == 0 and out == f"exported 7 samples to {out_file} (not encrypted)\n"
    assert err == (f"oneshot: warning: {out_file} is not encrypted: anyone who gets it sees every face, name and "
                   "vector\n")
    with zipfile.ZipFile(out_file) as archive:
        assert ENCRYPTION not in archive.namelist()
        assert archive.getinfo(INDEX).compress_type == zipfile.ZIP_DEFLATED
        assert json.loads(archive.read(INDEX))["format"] == "oneshot-gallery-export"
    monkeypatch.delenv(VARIABLE)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = cli(capsys, "import", "--gallery", tmp_path / "copy.db", out_file)  # never asks
    assert code == 0 and out == f"imported 5 people (7 samples) from {out_file}\n", err


def test_cli_import_with_a_wrong_or_no_passphrase_imports_nothing(tmp_path, encrypted, target, capsys, monkeypatch):
    before = digest(target)
    monkeypatch.setenv(VARIABLE, "not the passphrase")
    code, out, err = cli(capsys, "import", "--gallery", target, encrypted)
    assert (code, out, err) == (2, "", f"oneshot: wrong passphrase for {encrypted}: nothing was imported\n")
    monkeypatch.delenv(VARIABLE)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out, err = cli(capsys, "import", "--gallery", target, encrypted)
    assert (code, out) == (2, "")
    assert err == (f"oneshot: Passphrase of {encrypted}: a passphrase is needed; set {VARIABLE} "
                   "(no terminal to ask at)\n")
    assert digest(target) == before
