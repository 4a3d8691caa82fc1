"""Export and import a gallery as one portable file: names, chips and vectors with the model id.

The file is a zip holding ``oneshot-export.json`` and one PNG per chip. It holds biometric
data, so export writes it owner-readable only (0600): to a temporary file with a random name
beside the target, created exclusively and never through a symbolic link, renamed over the
target only when complete. It refuses to write over the gallery itself (or its log), however
the name reaches it (symbolic or hard links).

With a passphrase (the default of ``oneshot export`` and the app) the export is encrypted: a
clear ``oneshot-encryption.json`` holds the scrypt salt and costs and a random data key
wrapped under the passphrase's key (a later re-wrap can change the passphrase without
touching the rest, and a wrong passphrase fails the unwrap, so it is told apart from a
damaged member); every other member is sealed with AES-256-GCM (``core.storage.crypto``) bound to
its member name, so a member altered, swapped or moved fails its check. Members are stored
uncompressed (ciphertext does not compress); their names carry no personal data, though
their count and sizes (samples, chip sizes) stay visible. Any zip tool lists the members,
but only OneShot (or a program implementing this format) opens them.

Import trusts nothing in the file. Only regular files are read; the number of members, the
size of the central directory and the size of every member are bounded, and sizes are
counted while inflating, in chunks, never taken from a header; only members the index names
are ever inflated. Of an encrypted export the clear header is read and bounded first
(hostile scrypt costs are refused before any key is derived), the passphrase is asked for
only then, and every member is opened after it has been read within the same limits. The
index is checked against the schema (types, names, lengths of vectors and that they are
finite, a 150x150 PNG chip for every sample, the model id), and only then are all people
added in one transaction, or nobody. A name the gallery already has fails the import
(``on_conflict="fail"``), is left untouched (``"skip"``), or receives the export's samples
it does not already have (``"merge"``): how a person deleted by mistake is restored from a
backup.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..vision.align import CHIP_SIZE
from .crypto import FieldCipher, KEY_BYTES, OVERHEAD, PassphraseParameters, SealBroken, random_key, unwrap_key, wrap_key
from ..errors import WrongPassphraseError
from ..models.activation import embedding_dimensions
from ..errors import ArchiveError, InputError, PassphraseNeededError
from .files import NotRegularFile, open_regular
from .chips import MAX_DIMENSIONS, decode_chip, encode_chip, png_size
from .store import ImportCounts, ON_CONFLICT
from .repository import Gallery
from ..errors import GalleryError
from .sqlite import sync_folder
from .names import clean_name, name_key, printable, printable_path
from ..models.store import get_embedder

FORMAT = "oneshot-gallery-export"
VERSION = 1
INDEX = "oneshot-export.json"
ENCRYPTION = "oneshot-encryption.json"  # present, in the clear, only in an encrypted export
ENCRYPTION_FORMAT = "oneshot-export-encryption"
ENCRYPTION_VERSION = 1
CIPHER = "AES-256-GCM"
KEY_LABEL = "oneshot export data key v1"  # what the wrapped data key is bound to

# A passphrase, or a function asked for it only when it is needed; None: plain (export) or
# none at hand (import: an encrypted export then raises ``PassphraseNeededError``).
Passphrase = str | Callable[[], str] | None

# Limits on what an import reads. A real export of the largest gallery we accept stays well
# inside all of them; a hostile file hits one long before memory or time run out.
MAX_MEMBERS = 20_000  # entries in the zip (the index and one chip per sample, plus slack)
MAX_CENTRAL_DIRECTORY = 8 << 20  # bytes of the zip's directory, checked before it is parsed
MAX_PEOPLE = 10_000
MAX_SAMPLES = 10_000
MAX_INDEX_BYTES = 64 << 20  # the JSON index, inflated
MAX_ENCRYPTION_BYTES = 4096  # the clear encryption header (about 300 bytes as written)
MAX_CHIP_BYTES = 512 << 10  # one chip PNG, inflated (a 150x150 RGB PNG is at most ~70 KB)
MAX_TOTAL_BYTES = 1 << 30  # everything inflated by one import
MAX_MODEL_ID = 200
MAX_NOTE = 10_000
MAX_SOURCE = 4096
MAX_MEMBER_NAME = 1024
CHUNK = 64 << 10


@dataclass(frozen=True, eq=False)
class Archive:
    model_id: str
    # (name, note, [(chip PNG bytes, checked to be a 150x150 chip, embedding, quality, source, masked)])
    people: list[tuple[str, str, list[tuple]]]

    @property
    def sample_count(self) -> int:
        return sum(len(samples) for _, _, samples in self.people)


# -- export ---------------------------------------------------------------------------------


def export_gallery(gallery: Gallery, model_id: str, path: Path, passphrase: Passphrase) -> int:
    """Write every person with their chips and ``model_id`` vectors; return the sample count.

    ``passphrase`` encrypts the export; None writes it plain, readable by anyone who gets the
    file. A function is called only once the export is known to be possible (the target is
    allowed, every vector exists), so nobody types a passphrase for an export that fails.
    """
    path = Path(path)
    shown = printable_path(path)
    _refuse_gallery_target(gallery, path)
    if path.is_dir():
        raise InputError(f"{shown}: is a directory; name the export file")
    notes = {person.name: person.note for person in gallery.people()}
    samples = gallery.samples()
    sample_vectors = gallery.sample_vectors(model_id)
    for sample in samples:
        if sample.id not in sample_vectors:
            raise InputError(f"{printable_path(gallery.path)}: sample {sample.id} of {printable(sample.name)} has "
                             f"no {printable(model_id)} vector; run `oneshot reembed` first")
    cipher, header = _new_encryption(passphrase) if passphrase is not None else (None, None)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.partial"
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(temporary, flags, 0o600)
    except OSError as exc:
        raise _write_error(path, exc) from None
    done = False
    try:
        with os.fdopen(fd, "wb") as stream:
            people: dict[str, list] = {}
            with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED if cipher is None else zipfile.ZIP_STORED) \
                    as archive:
                def write(name: str, data: bytes) -> None:
                    archive.writestr(name, data if cipher is None else cipher.seal(data, context=name))

                if header is not None:
                    archive.writestr(ENCRYPTION, json.dumps(header, separators=(",", ":")))
                for number, sample in enumerate(samples, 1):
                    chip_name = f"chips/{number:06d}.png"
                    write(chip_name, encode_chip(sample.chip))
                    people.setdefault(sample.name, []).append({
                        "chip": chip_name,
                        "embedding": [float(v) for v in sample_vectors[sample.id]],
                        "quality": sample.quality,
                        "source": sample.source,
                        "created": sample.created,
                        **({"masked": True} if sample.masked else {}),
                    })
                document = {
                    "format": FORMAT,
                    "version": VERSION,
                    "model_id": model_id,
                    "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "people": [{"name": name, "note": notes.get(name, ""), "samples": entries}
                               for name, entries in people.items()],
                }
                write(INDEX, json.dumps(document, separators=(",", ":")).encode())
            stream.flush()
            os.fsync(stream.fileno())
        _refuse_gallery_target(gallery, path)  # again: the target may have been swapped meanwhile
        os.replace(temporary, path)
        done = True
        sync_folder(path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        if not done:
            try:
                os.unlink(temporary)
            except OSError:
                pass
    if not gallery.read_only:  # accountability: who took the faces out, and whether they were protected
        gallery.record("export", "", f"{len(samples)} samples to {printable_path(path)}, "
                                     + ("encrypted" if cipher is not None else "NOT encrypted"))
    return len(samples)


def _new_encryption(passphrase: Passphrase) -> tuple[FieldCipher, dict]:
    """A fresh data key for one export: its cipher, and the clear header that reopens it."""
    parameters = PassphraseParameters.new()
    data_key = random_key()
    wrapped = wrap_key(parameters.key(_asked(passphrase)), data_key, KEY_LABEL)
    header = {"format": ENCRYPTION_FORMAT, "version": ENCRYPTION_VERSION, "cipher": CIPHER,
              **parameters.to_dict(), "wrapped_key": wrapped.hex()}
    return FieldCipher(data_key), header


def _asked(passphrase: Passphrase) -> str:
    return passphrase() if callable(passphrase) else passphrase


def _refuse_gallery_target(gallery: Gallery, path: Path) -> None:
    """An export must never replace the gallery, its log or its reserve, by any name."""
    base = os.fsdecode(gallery.path)
    protected = [gallery.path, Path(base + "-wal"), Path(base + "-shm"), Path(base + "-journal"),
                 gallery.path.with_name(f".{gallery.path.name}.reserve")]
    for own in protected:
        same = os.path.abspath(path) == os.path.abspath(own)
        if not same:
            try:
                same = os.path.samefile(path, own)
            except (OSError, ValueError):
                same = False
        if same:
            what = "the gallery itself" if own == gallery.path else f"the gallery's {own.name}"
            raise InputError(f"{printable_path(path)}: is {what}; export to another file (nothing was written)")


def _write_error(path: Path, exc: OSError) -> InputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InputError(f"{printable_path(path)}: disk full: the export was not written")
    return InputError(f"{printable_path(path)}: cannot write the export ({exc.strerror or exc})")


# -- import ---------------------------------------------------------------------------------


def import_archive(gallery: Gallery, path: Path, model_id: str, embed=None,
                   on_conflict: str = "fail", passphrase: Passphrase = None) -> ImportCounts:
    """Add every person of an export, all or nothing; return the counts (they unpack as
    ``(people, samples)``).

    An export of another model has vectors this gallery cannot match against: it is refused,
    unless ``embed`` (chip -> vector with the gallery's model) computes new ones from its chips.
    ``on_conflict``: what to do with a name already enrolled: ``"fail"`` (the whole import is
    refused), ``"skip"`` (that person is left as they are) or ``"merge"`` (their samples are
    added, except chips the person already has). ``passphrase``: see ``read_archive``.
    """
    if on_conflict not in ON_CONFLICT:
        raise InputError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {printable(on_conflict)!r}")
    gallery.require_writable()
    dimensions = embedding_dimensions(get_embedder(model_id))
    archive = read_archive(path, passphrase)
    people = archive.people
    if archive.model_id != model_id:
        if embed is None:
            raise ArchiveError(printable_path(path), f"exported with model {archive.model_id!r}, but this gallery matches with "
                                     f"{model_id!r} (import with re-embedding to compute new vectors from its chips)")
        people = [(name, note, [(png, embed(decode_chip(png, CHIP_SIZE)), quality, source, masked)
                                for png, _, quality, source, masked in samples])
                  for name, note, samples in people]
    _check_against_model(path, people, model_id, dimensions)
    return gallery.import_people(people, model_id, on_conflict)


def _check_against_model(path: Path, people: list, model_id: str, dimensions: int) -> None:
    """Refuse vectors the model could not have made (checked against its manifest, not the
    gallery, which may be empty): imported, they would break every later match."""
    for name, _, samples in people:
        for _, embedding, *_ in samples:
            vector = np.asarray(embedding)
            if vector.shape != (dimensions,):
                raise ArchiveError(printable_path(path), f"the vectors of {printable(name)!r} have {vector.size} numbers, but model "
                                         f"{model_id!r} makes {dimensions}: not imported, nothing was changed "
                                         "(a damaged export, or one of a gallery whose vectors disagree with the "
                                         "model: run `oneshot reembed` there, then export again)")
            if not np.isfinite(vector).all():
                raise ArchiveError(printable_path(path), f"a vector of {printable(name)!r} is not finite (NaN or infinity): not "
                                         "imported, nothing was changed")


class _Budget:
    """Bytes inflated so far by one import, against ``MAX_TOTAL_BYTES``."""

    def __init__(self, path: Path) -> None:
        self.path, self.used = path, 0

    def take(self, count: int) -> None:
        self.used += count
        if self.used > MAX_TOTAL_BYTES:
            raise ArchiveError(printable_path(self.path), f"refused: inflates to more than {MAX_TOTAL_BYTES >> 20} MB in all "
                                          "(a zip bomb?)")


# What the zip module raises on a damaged container; it is not our code, so any of these
# means "damaged export", never a crash.
_ZIP_FAILURES = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, struct.error, ValueError,
                 OverflowError, IndexError, KeyError, NotImplementedError, RuntimeError, TypeError, AttributeError)


def read_archive(path: Path, passphrase: Passphrase = None) -> Archive:
    """Read and check an export completely; raise ``ArchiveError`` saying what is wrong.

    ``passphrase`` opens an encrypted export, and a function is called only for one, so a plain
    export never asks; an encrypted export without it raises ``PassphraseNeededError``, a wrong one
    ``WrongPassphraseError``.
    """
    path = Path(path)
    stream = _open_regular(path)
    with stream:
        size = os.fstat(stream.fileno()).st_size
        try:
            _check_directory(path, stream, size)
            stream.seek(0)
            archive = zipfile.ZipFile(stream)
        except ArchiveError:
            raise
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # an offset before the start of the file
                raise ArchiveError(printable_path(path), "not a OneShot gallery export (not a zip file, or truncated)") from None
            raise ArchiveError(printable_path(path), f"cannot read the export ({exc.strerror or exc})") from None
        except _ZIP_FAILURES:
            raise ArchiveError(printable_path(path), "not a OneShot gallery export (not a zip file, or truncated)") from None
        with archive:
            return _read_contents(path, archive, passphrase)


def _open_regular(path: Path):
    """The file opened for reading, if it is a regular file; never blocks on a pipe or device."""
    try:
        fd, _ = open_regular(path)
    except NotRegularFile as exc:
        what = "a directory" if stat.S_ISDIR(exc.mode) else "not a regular file (a device, pipe or socket)"
        raise ArchiveError(printable_path(path), f"is {what}, not an export file") from None
    except FileNotFoundError:
        raise ArchiveError(printable_path(path), "no such file") from None
    except OSError as exc:
        raise ArchiveError(printable_path(path), f"cannot read the export ({exc.strerror or exc})") from None
    return os.fdopen(fd, "rb")


def _check_directory(path: Path, stream, size: int) -> None:
    """Bound the zip's central directory before ``zipfile`` parses it into objects."""
    tail_size = min(size, 22 + 65535 + 20)
    stream.seek(size - tail_size)
    tail = stream.read(tail_size)
    where = tail.rfind(b"PK\x05\x06")
    if where < 0 or where + 22 > len(tail):
        raise ArchiveError(printable_path(path), "not a OneShot gallery export (not a zip file, or truncated)")
    entries, directory_size, directory_offset = struct.unpack("<HLL", tail[where + 10: where + 20])
    if (entries == 0xFFFF or directory_size == 0xFFFFFFFF or directory_offset == 0xFFFFFFFF) and where >= 20 \
            and tail[where - 20: where - 16] == b"PK\x06\x07":
        record_offset = struct.unpack("<Q", tail[where - 12: where - 4])[0]
        if record_offset + 56 <= size:
            stream.seek(record_offset)
            record = stream.read(56)
            if record[:4] == b"PK\x06\x06":
                entries, directory_size = struct.unpack("<QQ", record[24:40])
    if entries > MAX_MEMBERS:
        raise ArchiveError(printable_path(path), f"refused: {entries} members (an export has at most {MAX_MEMBERS})")
    if directory_size > MAX_CENTRAL_DIRECTORY:
        raise ArchiveError(printable_path(path), f"refused: a {directory_size >> 20} MB zip directory "
                                 f"(at most {MAX_CENTRAL_DIRECTORY >> 20} MB)")


def _read_contents(path: Path, archive: zipfile.ZipFile, passphrase: Passphrase) -> Archive:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ArchiveError(printable_path(path), f"refused: {len(members)} members (an export has at most {MAX_MEMBERS})")
    counts = Counter(info.filename for info in members)
    budget = _Budget(path)
    cipher = _export_cipher(path, archive, counts, budget, passphrase) if ENCRYPTION in counts else None

    def read(name: str, limit: int) -> bytes:
        """A member's content: as inflated, or opened (a sealed member is ``OVERHEAD`` bytes longer)."""
        info = _member(path, archive, counts, name)
        if cipher is None:
            return _inflate(path, archive, info, limit, budget)
        try:
            return cipher.open(_inflate(path, archive, info, limit + OVERHEAD, budget), context=name)
        except SealBroken:
            raise ArchiveError(printable_path(path), f"damaged export ({printable(name)!r} fails its integrity check: "
                                     "altered or damaged)") from None

    raw = read(INDEX, MAX_INDEX_BYTES)
    model_id, entries = _check_index(path, _parse_json(path, raw, "the index"))
    del raw
    people = []
    for name, note, samples in entries:
        checked = []
        for chip_name, embedding, quality, source, masked in samples:
            png = read(chip_name, MAX_CHIP_BYTES)
            checked.append((_check_chip(path, chip_name, png), embedding, quality, source, masked))
        people.append((name, note, checked))
    return Archive(model_id=model_id, people=people)


def _export_cipher(path: Path, archive: zipfile.ZipFile, counts: Counter, budget: _Budget,
                   passphrase: Passphrase) -> FieldCipher:
    """The cipher of an encrypted export. Its clear header is bounded and checked before the
    passphrase is asked for or any key derived (a hostile file cannot demand costly scrypt)."""
    raw = _inflate(path, archive, _member(path, archive, counts, ENCRYPTION), MAX_ENCRYPTION_BYTES, budget)
    header = _parse_json(path, raw, ENCRYPTION)
    if not isinstance(header, dict) or header.get("format") != ENCRYPTION_FORMAT:
        raise ArchiveError(printable_path(path), f"damaged export ({ENCRYPTION} is not a OneShot encryption header)")
    version, cipher = header.get("version"), header.get("cipher")
    if type(version) is not int or version != ENCRYPTION_VERSION or cipher != CIPHER:
        raise ArchiveError(printable_path(path), f"encrypted in a way this version cannot read (version {printable(version)}, "
                                 f"cipher {printable(cipher)})")
    wrapped = header.get("wrapped_key")
    try:
        parameters = PassphraseParameters.from_dict(header)
        if not isinstance(wrapped, str) or len(wrapped) != 2 * (OVERHEAD + KEY_BYTES):
            raise ValueError("bad wrapped key")
        wrapped = bytes.fromhex(wrapped)
    except ValueError as exc:
        raise ArchiveError(printable_path(path), f"damaged export ({ENCRYPTION}: {printable(exc)})") from None
    if passphrase is None:
        raise PassphraseNeededError(f"{printable_path(path)}: the export is encrypted: its passphrase is needed")
    try:
        return FieldCipher(unwrap_key(parameters.key(_asked(passphrase)), wrapped, KEY_LABEL))
    except SealBroken:
        raise WrongPassphraseError(f"wrong passphrase for {printable_path(path)}: nothing was imported") from None


def _member(path: Path, archive: zipfile.ZipFile, counts: Counter, name: str) -> zipfile.ZipInfo:
    if counts.get(name, 0) == 0:
        raise ArchiveError(printable_path(path), f"incomplete export (missing {printable(name)!r})")
    if counts[name] > 1:
        raise ArchiveError(printable_path(path), f"damaged export ({printable(name)!r} appears {counts[name]} times)")
    return archive.getinfo(name)


def _inflate(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, budget: _Budget) -> bytes:
    """A member's bytes, read in chunks and refused as soon as it passes ``limit``."""
    shown = printable(info.filename)
    if info.flag_bits & 0x1:
        raise ArchiveError(printable_path(path), f"{shown!r} uses zip's own encryption, which OneShot exports never use")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ArchiveError(printable_path(path), f"{shown!r} uses a compression method exports never use ({info.compress_type})")
    too_big = f"refused: {shown!r} inflates to more than {limit >> 10} KB (a zip bomb?)"
    data = bytearray()  # the size in the header is not trusted: what counts is what comes out
    try:
        with archive.open(info) as member:
            while True:
                chunk = member.read(min(CHUNK, limit + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
                budget.take(len(chunk))
                if len(data) > limit:
                    raise ArchiveError(printable_path(path), too_big)
    except ArchiveError:
        raise
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise ArchiveError(printable_path(path), "damaged export (a member's offset is outside the file)") from None
        raise ArchiveError(printable_path(path), f"cannot read the export ({exc.strerror or exc})") from None
    except zlib.error:
        raise ArchiveError(printable_path(path), "damaged export (corrupt compressed data)") from None
    except _ZIP_FAILURES as exc:
        raise ArchiveError(printable_path(path), f"damaged export ({printable(exc) or type(exc).__name__})") from None
    return bytes(data)


def _parse_json(path: Path, raw: bytes, what: str):
    def no_constant(token: str):
        raise ValueError(f"{token} is not a number")

    def bounded_int(text: str) -> int:
        if len(text.lstrip("-")) > 20:
            raise ValueError("an integer with too many digits")
        return int(text)

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=no_constant, parse_int=bounded_int)
    except RecursionError:
        raise ArchiveError(printable_path(path), f"damaged export ({what} is nested too deeply)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(printable_path(path), f"damaged export ({what} is not valid JSON: {printable(exc)})") from None


def _check_index(path: Path, document) -> tuple[str, list]:
    """The index against the schema; returns (model id, [(name, note, [(chip member, vector, quality, source,
    masked)])])."""
    def fail(where: str, reason: str):
        raise ArchiveError(printable_path(path), f"damaged export ({where}{': ' if where else ''}{reason})")

    def text(value, where: str, limit: int, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            fail(where, f"not text but {_json_type(value)}")
        if len(value) > limit:
            fail(where, f"longer than {limit} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            fail(where, "not valid text")
        return value

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ArchiveError(printable_path(path), "not a OneShot gallery export")
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise ArchiveError(printable_path(path), f"a OneShot gallery export of an unknown version ({printable(version)})")
    model_id = text(document.get("model_id"), "model_id", MAX_MODEL_ID)
    if not model_id.strip() or model_id != printable(model_id):
        fail("model_id", "empty or has control characters")
    people = document.get("people")
    if not isinstance(people, list):
        fail("people", f"not a list but {_json_type(people)}")
    if len(people) > MAX_PEOPLE:
        raise ArchiveError(printable_path(path), f"refused: {len(people)} people (at most {MAX_PEOPLE})")
    entries, keys, chips, dimensions, total = [], set(), set(), None, 0
    for number, person in enumerate(people, 1):
        where = f"person {number}"
        if not isinstance(person, dict):
            fail(where, f"not an object but {_json_type(person)}")
        raw_name = text(person.get("name"), f"{where} name", 1000)
        try:
            name = clean_name(raw_name)
        except InputError as exc:
            fail(where, str(exc))
        where = f"person {number} ({printable(name)})"
        if name_key(name) in keys:
            fail(where, "the name appears twice")
        keys.add(name_key(name))
        note = text(person.get("note"), f"{where} note", MAX_NOTE, required=False)
        samples = person.get("samples")
        if not isinstance(samples, list):
            fail(f"{where} samples", f"not a list but {_json_type(samples)}")
        total += len(samples)
        if total > MAX_SAMPLES:
            raise ArchiveError(printable_path(path), f"refused: more than {MAX_SAMPLES} samples")
        checked = []
        for index, sample in enumerate(samples, 1):
            at = f"{where} sample {index}"
            if not isinstance(sample, dict):
                fail(at, f"not an object but {_json_type(sample)}")
            chip = text(sample.get("chip"), f"{at} chip", MAX_MEMBER_NAME)
            if chip in chips:
                fail(at, f"chip {printable(chip)!r} is used twice")
            chips.add(chip)
            vector = sample.get("embedding")
            if not isinstance(vector, list) or not 1 <= len(vector) <= MAX_DIMENSIONS:
                fail(at, f"the embedding is not a list of 1 to {MAX_DIMENSIONS} numbers")
            if not all(type(v) in (int, float) for v in vector):
                fail(at, "the embedding has an entry that is not a number")
            if dimensions is None:
                dimensions = len(vector)
            if len(vector) != dimensions:
                fail(at, f"the embedding has {len(vector)} numbers, the first one {dimensions}")
            embedding = np.asarray(vector, dtype=np.float64)
            if not np.all(np.abs(embedding) <= np.finfo(np.float32).max):  # NaN, infinity, or not a float32
                fail(at, "the embedding is not finite (NaN, infinity or out of range)")
            quality = sample.get("quality", 0.0)
            if type(quality) not in (int, float) or not 0.0 <= quality <= 1.0:
                fail(at, "the quality is not a number from 0 to 1")
            source = text(sample.get("source"), f"{at} source", MAX_SOURCE, required=False)
            if "created" in sample:
                text(sample.get("created"), f"{at} created", 100, required=False)
            masked = sample.get("masked", False)
            if type(masked) is not bool:
                fail(at, "masked is not true or false")
            checked.append((chip, embedding.astype(np.float32), float(quality), source, masked))
        entries.append((name, note, checked))
    return model_id, entries


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _check_chip(path: Path, member: str, png: bytes) -> bytes:
    """A member that must be a 150x150 PNG chip; returns it re-encoded (no extra chunks)."""
    size = png_size(png)
    if size is None:
        raise ArchiveError(printable_path(path), f"damaged export (chip {printable(member)!r} is not a PNG)")
    if size != (CHIP_SIZE, CHIP_SIZE):
        raise ArchiveError(printable_path(path), f"damaged export (chip {printable(member)!r} is {size[0]}x{size[1]} pixels, "
                                 f"not {CHIP_SIZE}x{CHIP_SIZE})")
    try:
        pixels = decode_chip(png, CHIP_SIZE, what=f"chip {printable(member)!r}")
    except GalleryError as exc:
        raise ArchiveError(printable_path(path), f"damaged export ({exc})") from None
    return encode_chip(pixels)
