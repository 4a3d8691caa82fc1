"""The one-shot gallery: people, their face samples, negatives and embeddings, in one SQLite file.

One file in the user data folder (or wherever ``--gallery`` / ``ONESHOT_GALLERY`` says),
created readable by its owner only. It holds biometric data, so SQLite's ``secure_delete``
is on, the write-ahead log is checkpointed and truncated after a deletion, temporary tables
stay in memory, and nothing here writes chips or vectors anywhere else. A sample keeps its
aligned chip, so a new embedder can re-embed everyone without a new enrolment; embeddings
are stored per model, so switching back to an older model needs no work at all. Negatives
("that is not X": faces a user said are not X) are stored exactly like samples, chip and
per-model vectors, so a new model re-embeds them too.

Every write is one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: a process
killed mid-batch leaves exactly the committed samples, and two processes writing at once
wait for each other instead of losing data.

Opening never writes. A file is checked (regular file, SQLite header, our application id,
schema version, integrity, tables and columns) through a read-only connection before
anything else touches it, so a foreign or damaged file is refused and left byte-for-byte as
it was. A file of an older schema is read as it is (what it lacks reads as empty) and
upgraded inside its first write transaction, so a failed write leaves it at its old
version. ``Gallery(path, readonly=True)`` (the reading commands) only ever opens the file
read-only; a gallery on read-only media, or one this user may not write, is opened
read-only by the default mode too, and a write then fails with a clear message. A new
gallery is built completely under a private temporary name and then hard-linked into
place, so two processes creating the same gallery at once both succeed. A full disk makes
the failing write say so and leaves the gallery readable; a small reserve file beside the
gallery is given up when a ``forget`` finds the disk full, so people can still be deleted.
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import io
import logging
import os
import re
import secrets
import sqlite3
import stat
import struct
import threading
import unicodedata
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from . import history as _history
from .crypto import OVERHEAD
from ..errors import InputError
from .files import NotRegularFile, open_regular
from .sealing import (SEALED_COLUMNS, TEXT_COLUMNS, PassphraseSource, PlainFields, Protection,
                                 forget_stored_key, new_protection, read_anchor, read_protection, retire_stored_key,
                                 unlock, write_anchor, write_protection)
from .sealing import Damaged as _Damaged
from ..paths import user_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
ANCHORED_SINCE = 4  # the schema from which an encrypted gallery's history head is sealed
APPLICATION_ID = 0x4F534731  # "OSG1": tells our files from other SQLite databases
SQLITE_HEADER = b"SQLite format 3\x00"
MAX_NAME_LENGTH = 100
MAX_DIMENSIONS = 4096  # the longest vector a model may have
MAX_CHIP_SIDE = 1024  # a stored chip larger than this is damage, not a face chip
MAX_CHIP_BYTES = 4 << 20  # ... and so is a stored PNG larger than this
MAX_STORED_CHIP = MAX_CHIP_BYTES + OVERHEAD  # ... sealed, in an encrypted gallery
RESERVE_BYTES = 1 << 20  # the space kept beside the gallery so `forget` works on a full disk
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

MIGRATIONS = {
    1: """
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,  -- NFC + casefold: "Ana" and "ana" are one person
        created TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        dimensions INTEGER NOT NULL,
        added TEXT NOT NULL
    );
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        chip BLOB NOT NULL,  -- the aligned chip, PNG
        quality REAL NOT NULL,
        source TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE INDEX samples_by_person ON samples(person_id);
    CREATE TABLE embeddings (
        sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL REFERENCES models(id),
        vector BLOB NOT NULL,  -- float32, little-endian
        PRIMARY KEY (sample_id, model_id)
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_by_model ON embeddings(model_id);
    """,
    # 2: negatives ("that is not X"): chips with per-model vectors, exactly like samples, so a
    # model switch re-embeds them too; a query closer to one of them than to X's samples is not X.
    2: """
    CREATE TABLE negatives (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        chip BLOB NOT NULL,  -- the aligned chip, PNG
        quality REAL NOT NULL,
        source TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE INDEX negatives_by_person ON negatives(person_id);
    CREATE TABLE negative_embeddings (
        negative_id INTEGER NOT NULL REFERENCES negatives(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL REFERENCES models(id),
        vector BLOB NOT NULL,  -- float32, little-endian
        PRIMARY KEY (negative_id, model_id)
    ) WITHOUT ROWID;
    CREATE INDEX negative_embeddings_by_model ON negative_embeddings(model_id);
    """,
    # 3: encryption at rest (see gallery_protection), the append-only history, and when each
    # person was last identified (for the optional retention period).
    3: """
    CREATE TABLE protection (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        scheme TEXT NOT NULL,  -- keyring, file or passphrase
        key_id TEXT NOT NULL,
        parameters TEXT NOT NULL,  -- JSON: scrypt's salt and costs for a passphrase
        wrapped_key BLOB NOT NULL  -- the data key, sealed under the key the scheme names
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        program TEXT NOT NULL,
        action TEXT NOT NULL,
        subject BLOB,  -- the person concerned (sealed in an encrypted gallery)
        detail BLOB,  -- what else there is to say (sealed likewise); never a chip or a vector
        link BLOB NOT NULL  -- SHA-256 chain over every entry so far (_history.chain_digest)
    );
    CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history
        BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
    CREATE TRIGGER history_is_append_only_delete BEFORE DELETE ON history
        BEGIN SELECT RAISE(ABORT, 'the history is append-only'); END;
    ALTER TABLE people ADD COLUMN last_seen TEXT;
    """,
    # 4: a sample may show the person masked ("Add masked sample"): a masked face is compared
    # with it at the masked-to-masked tau (core.vision.condition), with their clear samples at the masked tau.
    4: """
    ALTER TABLE samples ADD COLUMN masked INTEGER NOT NULL DEFAULT 0;
    """,
}

# What the current schema must have; an older or newer shape is refused, not guessed at.
REQUIRED_COLUMNS = {
    "people": {"id", "name", "name_key", "created", "note", "last_seen"},
    "models": {"id", "dimensions", "added"},
    "samples": {"id", "person_id", "chip", "quality", "source", "created", "masked"},
    "embeddings": {"sample_id", "model_id", "vector"},
    "negatives": {"id", "person_id", "chip", "quality", "source", "created"},
    "negative_embeddings": {"negative_id", "model_id", "vector"},
    "protection": {"id", "scheme", "key_id", "parameters", "wrapped_key"},
    "history": {"id", "at", "user", "program", "action", "subject", "detail", "link"},
}
# The schema version that added each table (a table not named here has been there since 1).
# An older file is read as it is (it has no negatives) and upgraded by its first write.
TABLE_SINCE = {"negatives": 2, "negative_embeddings": 2, "protection": 3, "history": 3}
COLUMN_SINCE = {("people", "last_seen"): 3, ("samples", "masked"): 4}

# SQLite's answers when it cannot set up the shared-memory index of the write-ahead log
# (a read-only folder or medium, a full disk): the open then falls back (see _connect).
_SHM_PROBLEMS = ("SQLITE_IOERR_SHM", "SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT",
                 "SQLITE_READONLY_CANTLOCK", "SQLITE_READONLY_RECOVERY", "SQLITE_CANTOPEN", "SQLITE_IOERR_LOCK",
                 "SQLITE_FULL", "SQLITE_READONLY")


# What SQLite (and Python's decoding of what it returns: a damaged file's text may not be
# UTF-8, even inside an error message) raises on a damaged, locked or unreachable file.
_SQLITE_FAILURES = (sqlite3.Error, UnicodeDecodeError)


class GalleryError(InputError):
    """A gallery file that cannot be used: foreign, damaged, from a newer version, ..."""


class DiskFullError(GalleryError):
    """A write that failed because the disk is full; nothing was changed."""


class ReadOnlyGalleryError(GalleryError):
    """A write to a gallery that is read-only (opened so, or on read-only media)."""


class UnknownPersonError(InputError):
    def __init__(self, name: str) -> None:
        super().__init__(f"nobody named {name!r} is enrolled")


class DuplicateNameError(InputError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a person named {name!r} is already enrolled")


def default_gallery_path() -> Path:
    """``ONESHOT_GALLERY`` if set, else ``gallery.db`` in the user data folder."""
    return user_path("ONESHOT_GALLERY", "data", "gallery.db")


def clean_name(name: str) -> str:
    """A person's name as stored: trimmed, NFC; refuse empty, overlong or control characters."""
    cleaned = unicodedata.normalize("NFC", str(name)).strip()
    if not cleaned:
        raise InputError("a name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InputError(f"a name can have at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise InputError(f"the name {cleaned!r} contains control characters")
    return cleaned


def name_key(name: str) -> str:
    """The key two spellings of one name share (NFC, trimmed, case-folded). Never raises:
    a name already in a gallery is looked up even when it would not be accepted today."""
    return unicodedata.normalize("NFC", str(name)).strip().casefold()


def printable(text, escape_backslash: bool = True) -> str:
    """``text`` safe to print on a terminal: control, format, separator and unpaired surrogate
    characters (escape sequences, bidi overrides, a non-UTF-8 file name's bytes) are shown as
    ``\\x1b``, ``\\u202e``, ... and, for names, a backslash as ``\\\\``, so the form printed
    is unambiguous and can be typed back (``forget`` accepts it)."""
    out = []
    for ch in str(text):
        if ch == "\\" and escape_backslash:
            out.append("\\\\")
        elif unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def printable_path(path) -> str:
    """A file name for a message: as ``printable`` but backslashes (Windows folders) kept."""
    return printable(os.fsdecode(path) if isinstance(path, bytes) else str(path), escape_backslash=False)


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|\\|n|r|t)")


def unescape_name(text: str) -> str | None:
    """The inverse of ``printable``: ``\\x1b`` and friends back to characters; None if invalid."""
    def one(match: re.Match) -> str:
        token = match.group(1)
        if token in ("\\", "n", "r", "t"):
            return {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}[token]
        code = int(token[1:], 16)
        if code > 0x10FFFF:
            raise ValueError(token)
        return chr(code)

    try:
        return _ESCAPE.sub(one, text)
    except ValueError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Person:
    name: str
    samples: int
    created: str
    note: str


@dataclass(frozen=True)
class DamagedEntry:
    """A row whose sealed value fails to open, kept apart so the rest of the gallery still reads:
    ``id`` removes it (a person's: ``forget --id``; a sample's: ``remove-sample``)."""

    id: int
    samples: int  # the person's samples (a damaged sample: 1)
    reason: str


@dataclass(frozen=True, eq=False)
class GalleryVectors:
    """Every stored vector of one model: row i belongs to ``names[owners[i]]``.

    Rows are grouped by person (owners is non-decreasing), which lets the matcher take the
    per-person minimum with one ``np.minimum.reduceat``.
    """

    names: list[str]
    owners: np.ndarray  # (N,) int64 index into names
    matrix: np.ndarray  # (N, D) float32
    last_id: int = 0  # the newest sample among the rows: what a catch-up asks for after
    read_at: int | None = None  # a shared gallery's revision counter when read (None: no catch-up)
    masked: np.ndarray | None = None  # (N,) bool: the sample shows the person masked (None: none does)
    skipped: int = 0  # stored vectors left out because their name or vector fails to open

    def masked_rows(self) -> np.ndarray:
        """(N,) bool, False where ``masked`` says nothing."""
        return self.masked if self.masked is not None else np.zeros(len(self.owners), dtype=bool)

    def extended(self, added: "GalleryVectors") -> "GalleryVectors":
        """These vectors and ``added`` (rows stored since), in the order a full read gives:
        people by age, each one's samples together; ``added`` carries the newer marks."""
        skipped = self.skipped + added.skipped
        if not len(added.matrix):
            return dataclasses.replace(self, read_at=added.read_at, skipped=skipped)
        if not len(self.matrix):
            return dataclasses.replace(added, skipped=skipped)
        column = {name: i for i, name in enumerate(self.names)}
        names = self.names + [name for name in added.names if name not in column]
        column.update((name, i) for i, name in enumerate(names))
        owners = np.concatenate([self.owners, [column[added.names[o]] for o in added.owners]]).astype(np.int64)
        matrix = np.concatenate([self.matrix, added.matrix])
        masked = np.concatenate([self.masked_rows(), added.masked_rows()])
        if len(owners) and (np.diff(owners) < 0).any():  # a newer sample of someone already here
            order = np.argsort(owners, kind="stable")
            owners, matrix, masked = owners[order], matrix[order], masked[order]
        return GalleryVectors(names, owners, matrix, added.last_id, added.read_at, masked if masked.any() else None,
                              skipped)


@dataclass(frozen=True, eq=False)
class StoredSample:
    id: int
    name: str
    chip: np.ndarray  # (S, S, 3) uint8 RGB
    quality: float
    source: str
    created: str
    masked: bool = False  # a sample of the person wearing a mask


@dataclass(frozen=True, eq=False)
class SampleInfo:
    """One stored chip of a person (a sample, or a negative: "that is not them"), for display."""

    id: int
    chip: np.ndarray  # (S, S, 3) uint8 RGB
    source: str
    created: str
    quality: float


@dataclass(frozen=True)
class ImportCounts:
    """What an import did. Unpacks as ``(people, samples)``, the two numbers it used to return."""

    people: int  # new people added
    samples: int  # samples stored, for new people and merged ones
    skipped: tuple[str, ...] = ()  # names already enrolled, left untouched (``on_conflict="skip"``)
    merged: tuple[tuple[str, int], ...] = ()  # (name already enrolled, samples added to them)
    duplicates: int = 0  # samples not stored: the person already had that very chip

    def __iter__(self):
        return iter((self.people, self.samples))


ON_CONFLICT = ("fail", "skip", "merge")

# The two kinds of stored chip: (table, its vectors' table, the vectors' key column).
_SAMPLES = ("samples", "embeddings", "sample_id")
_NEGATIVES = ("negatives", "negative_embeddings", "negative_id")


def encode_chip(chip: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the chip as PNG")
    return png.tobytes()


def png_size(png: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header without decoding it; None if it is not a PNG."""
    if not isinstance(png, (bytes, bytearray, memoryview)) or len(png) < 24:
        return None
    png = bytes(png[:24])
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])


def decode_chip(png: bytes, size: int | None = None, what: str = "a stored chip") -> np.ndarray:
    """A chip's RGB pixels from its PNG, refusing anything that is not a small square colour chip.

    The size is read from the header before decoding, so a damaged or hostile file cannot
    make the decoder allocate a huge image. Decoded with Pillow, which reports a damaged
    file as an exception (libpng through OpenCV also prints to stderr). ``size``: the
    exact side required.
    """
    dims = png_size(png)
    if dims is None:
        raise GalleryError(f"{what} is damaged (not a PNG)")
    width, height = dims
    if width != height or not 1 <= width <= MAX_CHIP_SIDE or (size is not None and width != size):
        wanted = f"{size}x{size}" if size else "a square chip"
        raise GalleryError(f"{what} is damaged ({width}x{height} pixels, not {wanted})")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(bytes(png)), formats=["PNG"]) as image:
            image.load()
            if image.mode.startswith("I"):  # 16-bit grey: keep the high byte, as for 16-bit colour
                grey = (np.asarray(image).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                rgb = np.repeat(grey[:, :, None], 3, axis=2)
            else:
                rgb = np.asarray(image.convert("RGB"))
    except Exception:  # Pillow's many ways of saying "damaged" (OSError, SyntaxError, zlib.error, ...)
        raise GalleryError(f"{what} is damaged (not a readable PNG)") from None
    if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
        raise GalleryError(f"{what} is damaged (not a readable PNG)")
    return np.ascontiguousarray(rgb)


def _error_name(exc: BaseException) -> str:
    """SQLite's extended error name (``SQLITE_FULL``, ``SQLITE_IOERR_SHMSIZE``, ...), or ''."""
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return name
    text = str(exc).lower()  # Python 3.10 has no sqlite_errorname
    for needle, guess in (("disk is full", "SQLITE_FULL"), ("readonly", "SQLITE_READONLY"),
                          ("locked", "SQLITE_BUSY"), ("malformed", "SQLITE_CORRUPT"),
                          ("not a database", "SQLITE_NOTADB"), ("unable to open", "SQLITE_CANTOPEN"),
                          ("disk i/o error", "SQLITE_IOERR")):
        if needle in text:
            return guess
    return ""


def _disk_has_no_room(path: Path) -> bool:
    try:
        info = os.statvfs(path.parent if not path.is_dir() else path)
    except (OSError, AttributeError):
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _uri(path: Path, **params: str) -> str:
    absolute = os.path.abspath(os.fsencode(path))
    if os.name == "nt":  # file:///C:/...
        absolute = b"/" + absolute.replace(b"\\", b"/")
    return "file:" + urllib.parse.quote(absolute, safe=b"/:") + "?" + urllib.parse.urlencode(params)


_CLEAR = PlainFields()  # columns that are never sealed: dates, sources of plain galleries


def _text(value, what: str) -> str:
    return _CLEAR.text(value, "", what)


class Gallery:
    """One open gallery file. Safe to share between threads (calls are serialised).

    ``readonly=True``: the file is only read (``mode=ro``); a missing file reads as an
    empty gallery and is not created. Otherwise a missing file is created, and a file this
    process cannot write (read-only medium, folder or file) is opened read-only all the same:
    reading works, and a write raises ``ReadOnlyGalleryError``. Either way nothing is
    written when opening.
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False, passphrase: PassphraseSource = None,
                 protection: str = "key") -> None:
        """``passphrase``: the text, or a function asked only if the gallery is protected by one.
        ``protection``: how a gallery created now is encrypted: "key" (a random key in the
        system keyring or a key file: no prompt, the default), "passphrase" or "none"."""
        self.path = Path(path) if path is not None else default_gallery_path()
        self._shown = self._location_shown()
        self._lock = threading.RLock()
        self._local_changes = 0
        self._read_only_reason: str | None = "it was opened for reading only" if readonly else None
        self._reserve_checked = False
        self._wal_checked = False
        self._leftovers_checked = False
        self._passphrase = _asked_once(passphrase)
        self._new_protection = protection
        self._fields = PlainFields()
        self._protection: Protection | None = None
        self._created: tuple[Protection | None, PlainFields] | None = None
        self._db = self._open(readonly)
        self._inode = self._identity()

    # -- opening -------------------------------------------------------------------------

    def _location_shown(self) -> str:
        """The gallery's location as messages show it."""
        return printable_path(self.path)

    @property
    def in_transit(self) -> str | None:
        """How data travels to a shared gallery's server (None: a local file, nothing travels)."""
        return None

    @property
    def shown(self) -> str:
        """Where the gallery is, as output shows it: a file's path, a server's URL without its password."""
        return self._shown

    @property
    def read_only(self) -> bool:
        """True when writes are refused (opened for reading, or the file cannot be written)."""
        return self._read_only_reason is not None

    def require_writable(self) -> None:
        """Raise ``ReadOnlyGalleryError`` now, before slow work, if a write would be refused."""
        if self._read_only_reason is not None:
            raise ReadOnlyGalleryError(f"{self._shown}: cannot change the gallery: {self._read_only_reason}")

    def _open(self, readonly: bool) -> sqlite3.Connection:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            if os.path.islink(self.path):
                raise GalleryError(f"{self._shown}: a symbolic link to a file that does not exist "
                                   f"({printable_path(os.readlink(self.path))})") from None
            if readonly:
                return self._empty_in_memory()
            self._create()
            info = self._stat()
        except OSError as exc:
            raise GalleryError(f"{self._shown}: cannot open the gallery ({exc.strerror or exc})") from None
        self._check_file(info)
        wal_size = self._wal_size()
        self._check_header(self._read_header(), info.st_size, wal_size)
        if not readonly:
            self._read_only_reason = self._why_not_writable()
        db = self._connect(writable=False)
        try:
            self._validate(db)
            self._unlock(db)
        except BaseException:
            db.close()
            raise
        if self._read_only_reason is not None:
            return db
        db.close()  # checked: now the connection that may write
        return self._writer()

    def _writer(self) -> sqlite3.Connection:
        db = self._connect(writable=True)
        for pragma in ("secure_delete = ON", "foreign_keys = ON", "synchronous = FULL"):
            db.execute(f"PRAGMA {pragma}")
        return db

    def _stat(self) -> os.stat_result:
        try:
            return os.stat(self.path)
        except OSError as exc:
            raise GalleryError(f"{self._shown}: cannot open the gallery ({exc.strerror or exc})") from None

    def _check_file(self, info: os.stat_result) -> None:
        if stat.S_ISDIR(info.st_mode):
            raise GalleryError(f"{self._shown}: is a directory, not a gallery file")
        if not stat.S_ISREG(info.st_mode):
            raise GalleryError(f"{self._shown}: not a regular file (a device, pipe or socket), not a gallery")
        if info.st_size == 0:
            raise GalleryError(f"{self._shown}: an empty file (0 bytes), not a OneShot gallery "
                               "(delete it to start a new gallery there)")

    def _read_header(self) -> bytes:
        try:
            fd, _ = open_regular(self.path)
        except NotRegularFile:  # swapped since the stat
            raise GalleryError(f"{self._shown}: not a regular file, not a gallery") from None
        except OSError as exc:
            raise GalleryError(f"{self._shown}: cannot read the gallery ({exc.strerror or exc})") from None
        try:
            return os.pread(fd, 100, 0) if hasattr(os, "pread") else os.read(fd, 100)
        except OSError as exc:
            raise GalleryError(f"{self._shown}: cannot read the gallery ({exc.strerror or exc})") from None
        finally:
            os.close(fd)

    def _wal_size(self) -> int:
        try:
            return os.stat(f"{os.fsdecode(self.path)}-wal").st_size
        except OSError:
            return 0

    def _check_header(self, header: bytes, size: int, wal_size: int) -> None:
        """What the first 100 bytes tell without SQLite: not SQLite, truncated, someone else's."""
        if not header.startswith(SQLITE_HEADER):
            raise GalleryError(f"{self._shown}: not a OneShot gallery (not an SQLite database)")
        if len(header) < 100:
            raise GalleryError(f"{self._shown}: the gallery is damaged (truncated to {size} bytes)")
        page_size = struct.unpack(">H", header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            raise GalleryError(f"{self._shown}: the gallery is damaged (its header is corrupt)")
        if wal_size:
            return  # the log may hold a newer first page: SQLite's own reading decides
        if size % page_size:
            raise GalleryError(f"{self._shown}: the gallery is damaged (truncated: {size} bytes is not a whole "
                               f"number of {page_size}-byte pages)")
        change_counter, pages = struct.unpack(">II", header[24:32])
        valid_for = struct.unpack(">I", header[92:96])[0]
        if pages and valid_for == change_counter and pages * page_size > size:
            raise GalleryError(f"{self._shown}: the gallery is damaged (truncated: {size} of "
                               f"{pages * page_size} bytes)")
        application_id = struct.unpack(">i", header[68:72])[0]
        if application_id != APPLICATION_ID:
            raise self._foreign(application_id, empty=pages <= 1 and size <= page_size)

    def _foreign(self, application_id: int, empty: bool = False) -> GalleryError:
        if application_id or not empty:
            return GalleryError(f"{self._shown}: not a OneShot gallery (an SQLite database of another program)")
        return GalleryError(f"{self._shown}: not a OneShot gallery (an empty SQLite database; delete it to start "
                            "a new gallery there)")

    def _why_not_writable(self) -> str | None:
        """Why this process cannot write the gallery (then it is opened read-only), or None."""
        folder = self.path.parent
        if _read_only_mount(folder):
            return "it is on a read-only file system"
        if not os.access(self.path, os.W_OK):
            return "the file is read-only (no permission to write it)"
        if not os.access(folder, os.W_OK | os.X_OK):
            return "its folder is read-only (SQLite needs to write its log beside it)"
        return None

    def _connect(self, writable: bool) -> sqlite3.Connection:
        """A connection that does not write on opening, with the fallbacks a read-only folder,
        read-only medium or full disk needs.

        The write-ahead log's index lives in shared memory, a ``-shm`` file beside the
        gallery. When that cannot be created (read-only folder or medium, full disk):
        a writer takes an exclusive lock and keeps the index in its own memory; a reader opens
        the file as immutable, which is only done when the log is empty (no other connection
        is open, nothing is waiting to be copied into the file) -- so what it reads is the
        file as committed, and nobody can be writing it without being able to create the log.
        """
        params = {"mode": "rw" if writable else "ro"}
        try:
            return self._probe(params)
        except _SQLITE_FAILURES as exc:
            if not _error_name(exc).startswith(_SHM_PROBLEMS):
                raise self._error(exc, "open") from None
            problem = exc
        try:
            if writable:
                log.info("%s: the shared-memory log index cannot be created (%s); locking the gallery while "
                         "it is open", self._shown, problem)
                return self._probe(params, exclusive=True)
            if self._wal_size():
                raise GalleryError(f"{self._shown}: cannot read the gallery: it has changes not yet copied from "
                                   f"its log ({self.path.name}-wal), which need a writable folder with free space "
                                   f"({problem})")
            return self._probe({"mode": "ro", "immutable": "1"})
        except _SQLITE_FAILURES as exc:
            raise self._error(exc, "open") from None

    def _probe(self, params: dict, exclusive: bool = False) -> sqlite3.Connection:
        db = sqlite3.connect(_uri(self.path, **params), uri=True, timeout=30, isolation_level=None,
                             check_same_thread=False)
        try:
            for pragma in ("trusted_schema = OFF", "cell_size_check = ON", "temp_store = MEMORY"):
                db.execute(f"PRAGMA {pragma}")
            if exclusive:
                db.execute("PRAGMA locking_mode = EXCLUSIVE")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _validate(self, db: sqlite3.Connection) -> None:
        """Refuse a foreign, newer, older or damaged file; only reads."""
        try:
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if application_id != APPLICATION_ID:
                tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                raise self._foreign(application_id, empty=not tables)
            if version > SCHEMA_VERSION:
                raise GalleryError(f"{self._shown}: made by a newer OneShot (schema {version}, this one reads "
                                   f"{SCHEMA_VERSION})")
            if version < 1:
                raise GalleryError(f"{self._shown}: the gallery is damaged (schema version {version})")
            check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                check = "; ".join(line.strip("* ") for line in str(check).splitlines() if line.strip("* "))
                raise GalleryError(f"{self._shown}: the gallery is damaged (integrity check: {printable(check)})")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, columns in REQUIRED_COLUMNS.items():
                if TABLE_SINCE.get(table, 1) > version:
                    continue
                if table not in tables:
                    raise GalleryError(f"{self._shown}: the gallery is damaged (the {table} table is missing)")
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                missing = sorted(c for c in columns - have if COLUMN_SINCE.get((table, c), 1) <= version)
                if missing:
                    raise GalleryError(f"{self._shown}: the gallery is damaged (the {table} table has no "
                                       f"{', '.join(missing)} column)")
            for model_id, dimensions in db.execute("SELECT id, dimensions FROM models"):
                if (not isinstance(model_id, str) or not isinstance(dimensions, int)
                        or not 1 <= dimensions <= MAX_DIMENSIONS):
                    raise GalleryError(f"{self._shown}: the gallery is damaged (model {printable(model_id)!s} has "
                                       f"{printable(dimensions)}-d vectors)")
        except _SQLITE_FAILURES as exc:
            raise self._error(exc, "open") from None

    def _unlock(self, db: sqlite3.Connection, has_table: bool | None = None) -> None:
        """Find the key of an encrypted gallery (or learn it is plain); reads only."""
        try:
            protection = read_protection(db, has_table)
        except _Damaged as exc:
            raise self._damaged(str(exc)) from None
        except _SQLITE_FAILURES as exc:
            raise self._error(exc, "open") from None
        if self._created is not None and self._created[0] == protection:
            self._protection, self._fields = self._created
            return
        try:
            self._fields = unlock(protection, self._passphrase, self._shown)
        except _Damaged as exc:
            raise self._damaged(str(exc)) from None
        self._protection = protection

    @property
    def encrypted(self) -> bool:
        return self._fields.encrypted

    @property
    def protection(self) -> str:
        """How the gallery is protected, in words (for Settings, ``oneshot info``, History)."""
        return self._fields.description

    @property
    def protection_scheme(self) -> str:
        """"keyring", "file", "passphrase", or "none" for a plain gallery."""
        return self._protection.scheme if self._protection is not None else "none"

    def forget_key(self) -> None:
        """Delete this gallery's key from the keyring or key folder: the file can never be read
        again. For throwaway galleries (the self-test); a passphrase has nothing to delete."""
        forget_stored_key(self._protection)

    def _identity(self) -> tuple[int, int] | None:
        """The file's (device, inode): tells whether it was replaced since it was opened."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _empty_in_memory(self) -> sqlite3.Connection:
        """A missing gallery read with ``readonly=True``: empty, and no file is created."""
        self._read_only_reason = "there is no gallery file yet (nothing is enrolled)"
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        _migrate(db, 0)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return db

    def _create(self) -> None:
        """Build a complete new gallery under a private temporary name, then hard-link it into
        place: the link fails if another process got there first, and then its gallery is used.
        Nobody ever sees a half-made gallery, and nothing is overwritten."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, "create the gallery") from None
        protection, fields = new_protection(self._new_protection, self._passphrase, self._shown, str(self.path))
        temporary = folder / f".{self.path.name}.{secrets.token_hex(8)}.new"
        try:
            self._build(temporary, protection, "create the gallery")
            try:
                os.link(temporary, self.path)
                self._created = (protection, fields)
                log.info("%s: new gallery created (%s)", self._shown, fields.description)
            except FileExistsError:
                pass  # another process created it a moment ago: use theirs
            except OSError:  # a file system without hard links: the rename is atomic, the check before it not
                if not self.path.exists():
                    os.replace(temporary, self.path)
                    self._created = (protection, fields)
            sync_folder(folder)
        except OSError as exc:
            raise self._os_error(exc, "create the gallery") from None
        finally:
            _remove_database_files(temporary)
            if self._created is None:
                forget_stored_key(protection)
        self._ensure_reserve()

    def _build(self, temporary: Path, protection: Protection | None, action: str, fill=None) -> None:
        """A complete gallery file at ``temporary`` (private, 0600): the schema, the protection
        row and (``fill(db)``) its rows, in one transaction, durable when this returns."""
        flags = (os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        os.close(os.open(temporary, flags, 0o600))
        try:
            db = sqlite3.connect(_uri(temporary, mode="rw"), uri=True, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous = FULL")
                db.execute("PRAGMA secure_delete = ON")
                db.execute("BEGIN IMMEDIATE")
                _migrate(db, 0)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                write_protection(db, protection)
                if fill is not None:
                    fill(db)
                db.execute("COMMIT")
                db.execute("PRAGMA journal_mode = WAL")
            finally:
                db.close()
        except _SQLITE_FAILURES as exc:
            if _error_name(exc).startswith("SQLITE_FULL") or _disk_has_no_room(temporary):
                raise DiskFullError(f"{self._shown}: disk full: cannot {action}: nothing was changed") from None
            raise GalleryError(f"{self._shown}: cannot {action} ({exc}): nothing was changed") from None

    def _os_error(self, exc: OSError, action: str) -> GalleryError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFullError(f"{self._shown}: disk full: cannot {action}")
        if exc.errno == errno.EROFS:
            return ReadOnlyGalleryError(f"{self._shown}: cannot {action}: read-only file system")
        return GalleryError(f"{self._shown}: cannot {action} ({exc.strerror or exc})")

    def _error(self, exc: sqlite3.Error, action: str) -> GalleryError:
        """The one-line message for an SQLite failure while opening, reading or writing."""
        name = _error_name(exc)
        nothing = ": nothing was changed" if action == "write" else ""
        if name.startswith("SQLITE_FULL") or (name.startswith("SQLITE_IOERR") and _disk_has_no_room(self.path)):
            verb = {"open": "cannot open the gallery", "read": "cannot read the gallery"}.get(action, "")
            return DiskFullError(f"{self._shown}: disk full" + (f": {verb}" if verb else "")
                                 + nothing + " (free some space and try again)")
        if name.startswith("SQLITE_READONLY"):
            return ReadOnlyGalleryError(f"{self._shown}: cannot change the gallery: it is read-only ({exc}){nothing}")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return GalleryError(f"{self._shown}: the gallery is busy (another program has been writing to it for "
                                f"30 s){nothing}")
        if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            return GalleryError(f"{self._shown}: cannot {action} the gallery ({exc}){nothing}")
        if name.startswith("SQLITE_NOTADB"):
            return GalleryError(f"{self._shown}: the gallery is damaged or not an SQLite database ({exc})")
        return GalleryError(f"{self._shown}: the gallery is damaged ({printable(exc)}){nothing}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading and writing -----------------------------------------------------------------

    @contextmanager
    def _write(self, counts: bool = True):
        """One atomic write transaction; counts as a change for ``revision`` unless ``counts``
        is False (a change the matcher does not care about: history, last seen).

        SQLite errors become one-line ``GalleryError``s (``DiskFullError`` for a full disk);
        the transaction is rolled back whatever happens, so a failed write changes nothing.
        """
        self.require_writable()
        with self._lock:
            db = self._db
            if self._inode is not None and self._identity() != self._inode:
                raise GalleryError(f"{self._shown}: the gallery file was replaced since it was opened (encrypted, "
                                   "decrypted or rekeyed by another program): open it again; nothing was changed")
            try:
                if not self._wal_checked:  # an old file in rollback mode: switch now, not on opening
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode = WAL")
                    self._wal_checked = True
                db.execute("BEGIN IMMEDIATE")
            except _SQLITE_FAILURES as exc:
                raise self._error(exc, "write") from None
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:  # an older file: upgraded inside this write, or not at all
                    _migrate(db, version)
                    if version < ANCHORED_SINCE:
                        self._anchor_history(db)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    log.info("%s: gallery upgraded from schema %d to %d", self._shown, version, SCHEMA_VERSION)
                if not self._leftovers_checked:  # holding the write lock: no re-encryption is under way
                    self._leftovers_checked = True
                    self._remove_leftovers()
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    try:
                        db.execute("ROLLBACK")
                    except _SQLITE_FAILURES:
                        pass
                if isinstance(exc, _SQLITE_FAILURES):
                    raise self._error(exc, "write") from None
                raise
            self._local_changes += counts
        if not self._reserve_checked:
            self._reserve_checked = True
            self._ensure_reserve()

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except _SQLITE_FAILURES as exc:
                raise self._error(exc, "read") from None

    def _damaged(self, reason: str) -> GalleryError:
        return GalleryError(f"{self._shown}: the gallery is damaged ({reason})")

    @property
    def revision(self) -> tuple[int, int]:
        """Changes whenever this or any other connection commits: the matcher's cache key."""
        return self._read("PRAGMA data_version")[0][0], self._local_changes

    # -- the reserve: room for `forget` on a full disk ------------------------------------

    def _reserve_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.reserve")

    def _ensure_reserve(self) -> None:
        """Keep ``RESERVE_BYTES`` of zeros beside the gallery, best effort."""
        if self._read_only_reason is not None:
            return
        path = self._reserve_path()
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_size >= RESERVE_BYTES:
                return
        except OSError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o600)
        except OSError:
            return
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            else:
                os.pwrite(fd, bytes(RESERVE_BYTES), 0) if hasattr(os, "pwrite") else os.write(fd, bytes(RESERVE_BYTES))
            os.fsync(fd)
        except OSError:  # no room for it now: try again after the next write
            self._reserve_checked = False
            try:
                os.ftruncate(fd, 0)
                os.unlink(path)
            except OSError:
                pass
        finally:
            os.close(fd)

    def _release_reserve(self) -> bool:
        try:
            os.unlink(self._reserve_path())
        except OSError:
            return False
        log.warning("%s: the disk is full; using the space kept in reserve", self._shown)
        return True

    # -- people --------------------------------------------------------------------------

    _PEOPLE = ("SELECT p.name, count(s.id), p.created, p.note, p.id FROM people p "
               "LEFT JOIN samples s ON s.person_id = p.id {where} GROUP BY p.id")

    def _opened_name(self, value) -> str | None:
        """A person's stored name, or None where it fails to open (their rows are skipped)."""
        try:
            return self._name(value)
        except GalleryError:
            return None

    def _name(self, value) -> str:
        """A person's stored name, opened; a damaged one is reported, never guessed at."""
        try:
            name = self._fields.text(value, "people.name", "a person's name")
        except _Damaged as exc:
            raise self._damaged(str(exc)) from None
        if not isinstance(value, (str, bytes)):
            raise self._damaged(f"a person's name is {type(value).__name__}, not text")
        return name

    def _person_row(self, row: tuple) -> Person:
        try:
            return self._opened_person(row)
        except _Damaged as exc:
            raise self._damaged(f"{exc} in person #{row[4]}; `oneshot forget --id {row[4]}` removes it") from None

    def _opened_person(self, row: tuple) -> Person:
        """A ``_PEOPLE`` row opened; ``Damaged`` when its name or note fails to open."""
        stored, count, created, note, _ = row
        if not isinstance(stored, (str, bytes)):
            raise _Damaged(f"a person's name is {type(stored).__name__}, not text")
        name = self._fields.text(stored, "people.name", "a person's name")
        try:
            return Person(name, count, _text(created, "a creation date"),
                          self._fields.text(note, "people.note", "a note"))
        except _Damaged as exc:
            raise _Damaged(f"{exc} for {printable(name)}") from None

    def people(self) -> list[Person]:
        """The intact people by name. A row whose name or note fails to open is left out, not
        fatal: ``damaged_people`` lists those, so one flipped bit cannot hide everyone."""
        return self._people()[0]

    def damaged_people(self) -> list[DamagedEntry]:
        """The people rows whose name or note fails to open, by id (what ``forget(person_id=)`` takes)."""
        return self._people()[1]

    def _people(self) -> tuple[list[Person], list[DamagedEntry]]:
        people, damaged = [], []
        for row in self._read(self._PEOPLE.format(where="")):
            try:
                people.append(self._opened_person(row))
            except _Damaged as exc:
                damaged.append(DamagedEntry(row[4], row[1], str(exc)))
        return sorted(people, key=lambda person: name_key(person.name)), damaged

    def person(self, name: str) -> Person:
        """One person by name (case-insensitive), looked up by its key, not by listing everyone."""
        with self._lock:
            person_id = self._find(name, lenient=True)
        if person_id is None:
            raise UnknownPersonError(name)
        return self._person_by_id(person_id)

    def check_name(self, name: str, enrolled: bool) -> str:
        """Raise unless ``name`` is valid and (``enrolled``) known or (not) free; return it cleaned.

        Lets callers refuse a bad name before any slow work; ``enroll`` checks again.
        """
        self.require_writable()
        name = clean_name(name)
        with self._lock:
            known = self._find(name) is not None
        if enrolled and not known:
            raise UnknownPersonError(name)
        if known and not enrolled:
            raise DuplicateNameError(name)
        return name

    def _find(self, name: str, lenient: bool = False) -> int | None:
        """The id of the person called ``name``: by key, then (``lenient``, for a name a user
        typed to change or delete someone) as stored exactly, or written as ``printable`` shows it."""
        try:
            return self._person_id(self._db, name, lenient)
        except _SQLITE_FAILURES as exc:
            raise self._error(exc, "read") from None

    def _person_id(self, db: sqlite3.Connection, name: str, lenient: bool = False) -> int | None:
        row = db.execute("SELECT id FROM people WHERE name_key = ?", (self._fields.key(name_key(name)),)).fetchone()
        if row:
            return row[0]
        if not lenient:
            return None
        unescaped = unescape_name(str(name))
        candidates = {str(name), unescaped} - {None}
        keys = {name_key(c) for c in candidates}
        # a file written by another tool may hold a key that is not its name's: compare names
        for person_id, stored in db.execute("SELECT id, name FROM people"):
            try:
                stored = self._fields.text(stored, "people.name", "a person's name")
            except _Damaged:
                continue
            if stored in candidates or name_key(stored) in keys:
                return person_id
        return None

    def enroll(
        self,
        name: str,
        chip: np.ndarray,
        embedding: np.ndarray,
        model_id: str,
        quality: float,
        source: str,
        add_to_existing: bool = False,
        note: str = "",
        masked: bool = False,
        derived: dict[str, np.ndarray] | None = None,
    ) -> Person:
        """Store one sample: a new person, or (``add_to_existing``) one more of a known person;
        ``masked``: the sample shows them masked; ``derived``: more vectors of the sample, by the
        (derived) model id they belong to (its masked copies' descriptor, ``core.vision.masks``)."""
        name = clean_name(name)
        with self._write() as db:
            person_id = self._person_id(db, name)
            if person_id is None and add_to_existing:
                raise UnknownPersonError(name)
            if person_id is not None and not add_to_existing:
                raise DuplicateNameError(name)
            if person_id is None:
                person_id = self._insert_person(db, name, note)
            sample_id = self._insert_chip(db, _SAMPLES, person_id, chip, embedding, model_id, quality, source,
                                          masked)
            for derived_id, vector in (derived or {}).items():
                self._insert_vector(db, _SAMPLES, sample_id, derived_id, vector)
            self._record(db, "add sample" if add_to_existing else "enrol", name,
                         f"{'masked ' if masked else ''}sample {sample_id} from {source}")
        return self.person(name)

    def import_people(self, people: list[tuple[str, str, list[tuple]]], model_id: str,
                      on_conflict: str = "fail") -> ImportCounts:
        """Add people with their samples ``(chip, embedding, quality, source[, masked])``, all or nothing.

        A chip is RGB pixels, or PNG bytes already checked by ``decode_chip``. A name that is
        already enrolled (or appears twice): ``on_conflict="fail"`` refuses the whole import
        and writes nothing; ``"skip"`` leaves that person untouched and imports the rest;
        ``"merge"`` adds the samples to the person enrolled, except chips they already have
        (the same pixels), and keeps their note.
        """
        if on_conflict not in ON_CONFLICT:
            raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")
        added = stored = duplicates = 0
        skipped, merged = [], []
        with self._write() as db:
            for name, note, samples in people:
                name = clean_name(name)
                person_id = self._person_id(db, name)
                if person_id is None:
                    person_id = self._insert_person(db, name, note)
                    added += 1
                    for chip, embedding, quality, source, *masked in samples:
                        self._insert_chip(db, _SAMPLES, person_id, chip, embedding, model_id, quality, source,
                                          bool(masked and masked[0]))
                        stored += 1
                    continue
                if on_conflict == "fail":
                    raise DuplicateNameError(name)
                shown = self._stored_name(db, person_id)
                if on_conflict == "skip":
                    skipped.append(shown)
                    continue
                have = self._chip_digests(db, person_id)
                count = 0
                for chip, embedding, quality, source, *masked in samples:
                    key = _pixel_digest(chip)
                    if key in have:
                        duplicates += 1
                        continue
                    have.add(key)
                    self._insert_chip(db, _SAMPLES, person_id, chip, embedding, model_id, quality, source,
                                      bool(masked and masked[0]))
                    count += 1
                stored += count
                merged.append((shown, count))
            self._record(db, "import", "", f"{added} people added, {stored} samples stored, {len(skipped)} skipped, "
                                         f"{len(merged)} merged (model {model_id})")
        return ImportCounts(added, stored, tuple(skipped), tuple(merged), duplicates)

    def _stored_name(self, db: sqlite3.Connection, person_id: int) -> str:
        return self._name(db.execute("SELECT name FROM people WHERE id = ?", (person_id,)).fetchone()[0])

    def _subject(self, db: sqlite3.Connection, person_id: int) -> str:
        """Whom a deletion is about in the history: the name, or the entry when it fails to open
        (deleting must work on exactly those rows)."""
        try:
            return self._stored_name(db, person_id)
        except GalleryError:
            return f"damaged entry #{person_id}"

    def _chip_digests(self, db: sqlite3.Connection, person_id: int) -> set[bytes]:
        """The pixel digests of a person's stored chips (a damaged chip counts as none)."""
        digests = set()
        for (png,) in db.execute("SELECT CASE WHEN length(chip) > ? THEN NULL ELSE chip END FROM samples "
                                 "WHERE person_id = ?", (MAX_STORED_CHIP, person_id)):
            try:
                png = self._fields.blob(png, "samples.chip", "a chip")
                if isinstance(png, bytes):
                    digests.add(_pixel_digest(png))
            except (GalleryError, _Damaged):
                pass
        return digests

    def _insert_person(self, db: sqlite3.Connection, name: str, note: str) -> int:
        return db.execute(
            "INSERT INTO people (name, name_key, created, note) VALUES (?, ?, ?, ?)",
            (self._fields.seal(name, "people.name"), self._fields.key(name_key(name)), _now(),
             self._fields.seal(str(note), "people.note")),
        ).lastrowid

    def _insert_chip(self, db: sqlite3.Connection, kind: tuple[str, str, str], person_id: int, chip,
                     embedding: np.ndarray, model_id: str, quality: float, source: str, masked: bool = False) -> int:
        """One sample or negative (``kind``) with its vector; returns its id."""
        table = kind[0]
        vector = _checked_vector(embedding)  # refused before anything is written
        png = bytes(chip) if isinstance(chip, (bytes, bytearray, memoryview)) else encode_chip(chip)
        values = (person_id, self._fields.seal(png, f"{table}.chip"), float(quality),
                  self._fields.seal(str(source), f"{table}.source"), _now())
        if masked:  # only samples have the column; a plain sample leaves it at its default
            chip_id = db.execute(f"INSERT INTO {table} (person_id, chip, quality, source, created, masked) "
                                 "VALUES (?, ?, ?, ?, ?, 1)", values).lastrowid
        else:
            chip_id = db.execute(f"INSERT INTO {table} (person_id, chip, quality, source, created) "
                                 "VALUES (?, ?, ?, ?, ?)", values).lastrowid
        self._insert_vector(db, kind, chip_id, model_id, vector)
        return chip_id

    def _insert_vector(self, db: sqlite3.Connection, kind: tuple[str, str, str], chip_id: int, model_id: str,
                       embedding: np.ndarray) -> None:
        """One vector of a stored sample or negative, its model registered with its length."""
        _, vectors, key = kind
        vector = _checked_vector(embedding)
        self._register_model(db, model_id, len(vector))
        db.execute(f"INSERT INTO {vectors} ({key}, model_id, vector) VALUES (?, ?, ?)",
                   (chip_id, model_id, self._fields.seal(vector.tobytes(), f"{vectors}.vector")))

    def _register_model(self, db: sqlite3.Connection, model_id: str, dimensions: int) -> None:
        row = db.execute("SELECT dimensions FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            db.execute("INSERT INTO models (id, dimensions, added) VALUES (?, ?, ?)", (model_id, dimensions, _now()))
        elif row[0] != dimensions:
            raise GalleryError(f"model {printable(model_id)!r} has {row[0]}-d vectors in this gallery, "
                               f"not {dimensions}-d")

    def rename(self, old: str, new: str) -> Person:
        new = clean_name(new)
        with self._write() as db:
            person_id = self._person_id(db, old, lenient=True)
            if person_id is None:
                raise UnknownPersonError(old)
            other = self._person_id(db, new)
            if other is not None and other != person_id:
                raise DuplicateNameError(new)
            was = self._stored_name(db, person_id)
            db.execute("UPDATE people SET name = ?, name_key = ? WHERE id = ?",
                       (self._fields.seal(new, "people.name"), self._fields.key(name_key(new)), person_id))
            self._record(db, "rename", new, f"was {was}")
        return self.person(new)

    def forget(self, name: str | None = None, *, person_id: int | None = None) -> int:
        """Delete a person (by ``name``, or by ``person_id``: the one way to reach a row whose
        name fails to open), every sample and every negative, irrecoverably; return how many
        samples went.

        On a full disk the reserve beside the gallery is given up to make room: deleting
        someone must always be possible.
        """
        return self._deleting(self._forget, name, "", person_id)

    def _deleting(self, delete, *args):
        """Run a deletion; on a full disk give up the reserve and try once more; then scrub the log."""
        try:
            result = delete(*args)
        except DiskFullError:
            if not self._release_reserve():
                raise
            result = delete(*args)
        self._scrub_log()
        self._ensure_reserve()
        return result

    def _forget(self, name: str | None, why: str = "", person_id: int | None = None) -> int:
        with self._write() as db:
            if person_id is None:
                person_id = self._person_id(db, name, lenient=True)
                if person_id is None:
                    raise UnknownPersonError(name)
            elif db.execute("SELECT 1 FROM people WHERE id = ?", (person_id,)).fetchone() is None:
                raise InputError(f"there is no person #{person_id} in the gallery")
            count = db.execute("SELECT count(*) FROM samples WHERE person_id = ?", (person_id,)).fetchone()[0]
            self._record(db, "forget", self._subject(db, person_id), f"{count} samples deleted{why}")
            # the cascade would do it; said explicitly so nothing depends on foreign keys being on
            db.execute("DELETE FROM negative_embeddings WHERE negative_id IN "
                       "(SELECT id FROM negatives WHERE person_id = ?)", (person_id,))
            db.execute("DELETE FROM negatives WHERE person_id = ?", (person_id,))
            db.execute("DELETE FROM embeddings WHERE sample_id IN (SELECT id FROM samples WHERE person_id = ?)",
                       (person_id,))
            db.execute("DELETE FROM samples WHERE person_id = ?", (person_id,))
            db.execute("DELETE FROM people WHERE id = ?", (person_id,))
        return count

    # -- one person's samples and negatives -------------------------------------------------

    def _owner(self, name: str) -> int:
        with self._lock:
            person_id = self._find(name, lenient=True)
        if person_id is None:
            raise UnknownPersonError(name)
        return person_id

    def _chip_infos(self, kind: tuple[str, str, str], person_id: int, what: str) -> list[SampleInfo]:
        table = kind[0]
        if not self._has_table(table):
            return []
        rows = self._read(
            f"SELECT id, CASE WHEN length(chip) > ? THEN NULL ELSE chip END, source, created, quality "
            f"FROM {table} WHERE person_id = ? ORDER BY id",
            (MAX_STORED_CHIP, person_id),
        )
        infos = []
        for chip_id, png, source, created, quality in rows:
            if not isinstance(quality, (int, float)):
                raise self._damaged(f"{what} {chip_id} is not in the shape the schema promises")
            try:
                png = self._fields.blob(png, f"{table}.chip", f"the chip of {what} {chip_id}")
                chip = decode_chip(png, what=f"the chip of {what} {chip_id}")
                infos.append(SampleInfo(chip_id, chip, self._fields.text(source, f"{table}.source", "a source"),
                                        _text(created, "a date"), float(quality)))
            except GalleryError as exc:
                raise GalleryError(f"{self._shown}: {exc}") from None
            except _Damaged as exc:
                raise self._damaged(f"{exc} in {what} {chip_id}") from None
        return infos

    def person_samples(self, name: str) -> list[SampleInfo]:
        """Every sample of one person, oldest first, with its chip: the person view."""
        return self._chip_infos(_SAMPLES, self._owner(name), "sample")

    def remove_sample(self, sample_id: int) -> Person | DamagedEntry:
        """Delete one sample and its vectors, irrecoverably, whatever in it fails to open; return
        its person as they are now (a ``DamagedEntry`` where their name or note fails to open).

        A person's last sample is refused: forget the person instead (a person without a
        face would match nothing and hide behind a name).
        """
        return self._deleting(self._remove_sample, int(sample_id))

    def _remove_sample(self, sample_id: int) -> Person | DamagedEntry:
        with self._write() as db:
            row = db.execute("SELECT person_id FROM samples WHERE id = ?", (sample_id,)).fetchone()
            if row is None:
                raise InputError(f"there is no sample {sample_id} in the gallery")
            person_id = row[0]
            name = self._subject(db, person_id)
            count = db.execute("SELECT count(*) FROM samples WHERE person_id = ?", (person_id,)).fetchone()[0]
            if count <= 1:
                raise InputError(f"sample {sample_id} is the last sample of {printable(name)}: "
                                 f"forget {printable(name)} instead")
            db.execute("DELETE FROM embeddings WHERE sample_id = ?", (sample_id,))
            db.execute("DELETE FROM samples WHERE id = ?", (sample_id,))
            self._record(db, "remove sample", name, f"sample {sample_id}")
        row = self._people_row(person_id)
        try:
            return self._opened_person(row)
        except _Damaged as exc:
            return DamagedEntry(person_id, row[1], str(exc))

    def sample_distances(self, name: str, model_id: str) -> dict[int, float]:
        """sample id -> its smallest squared distance to the person's other samples (``model_id``
        vectors; inf for a sample alone). A sample with no vector of that model is left out."""
        person_id = self._owner(name)
        rows = self._read(
            "SELECT s.id, e.vector FROM samples s JOIN embeddings e ON e.sample_id = s.id AND e.model_id = ? "
            "WHERE s.person_id = ? ORDER BY s.id",
            (model_id, person_id),
        )
        rows = [(sample_id, vector) for sample_id, blob in rows
                if (vector := self._opened_vector(blob, "embeddings")) is not None]
        matrix = self._check_vectors([row[1] for row in rows], self._dimensions(model_id),
                                     [f"sample {row[0]}" for row in rows]).astype(np.float64)
        if not len(rows):
            return {}
        differences = matrix[:, None, :] - matrix[None, :, :]
        squared = np.einsum("ijk,ijk->ij", differences, differences)
        np.fill_diagonal(squared, np.inf)
        nearest = squared.min(axis=1)
        return {row[0]: float(d) for row, d in zip(rows, nearest)}

    def add_negative(self, name: str, chip, embedding: np.ndarray, model_id: str, source: str,
                     quality: float = 0.0) -> int:
        """Store a face that is NOT ``name`` (a correction from the live window); return its id.

        From then on a face closer to it than to ``name``'s own samples is not named ``name``.
        """
        with self._write() as db:
            person_id = self._person_id(db, name, lenient=True)
            if person_id is None:
                raise UnknownPersonError(name)
            negative_id = self._insert_chip(db, _NEGATIVES, person_id, chip, embedding, model_id, quality, source)
            self._record(db, "add negative", self._stored_name(db, person_id), f"negative {negative_id} from {source}")
            return negative_id

    def negatives(self, name: str) -> list[SampleInfo]:
        """Every negative of one person ("that is not them"), oldest first, with its chip."""
        return self._chip_infos(_NEGATIVES, self._owner(name), "negative")

    def remove_negative(self, negative_id: int) -> Person:
        """Delete one negative and its vectors, irrecoverably; return its person."""
        return self._deleting(self._remove_negative, int(negative_id))

    def _remove_negative(self, negative_id: int) -> Person:
        with self._write() as db:
            row = db.execute("SELECT person_id FROM negatives WHERE id = ?", (negative_id,)).fetchone()
            if row is None:
                raise InputError(f"there is no negative {negative_id} in the gallery")
            db.execute("DELETE FROM negative_embeddings WHERE negative_id = ?", (negative_id,))
            db.execute("DELETE FROM negatives WHERE id = ?", (negative_id,))
            self._record(db, "remove negative", self._stored_name(db, row[0]), f"negative {negative_id}")
        return self._person_by_id(row[0])

    def _person_by_id(self, person_id: int) -> Person:
        return self._person_row(self._people_row(person_id))

    def _people_row(self, person_id: int) -> tuple:
        """One person's ``_PEOPLE`` row, as stored."""
        return self._read(self._PEOPLE.format(where="WHERE p.id = ?"), (person_id,))[0]

    def _has_table(self, table: str) -> bool:
        """False for a table an older file does not have yet (it gets it with its first write)."""
        since = TABLE_SINCE.get(table, 1)
        return since <= 1 or self._schema_at_least(since)

    def _history_anchored(self) -> bool:
        """Whether the history's head is sealed (schema 4 on): before, a missing anchor is no alarm."""
        return self._schema_at_least(ANCHORED_SINCE)

    def _has_column(self, table: str, column: str) -> bool:
        """False for a column an older file does not have yet (it gets it with its first write)."""
        since = COLUMN_SINCE.get((table, column), 1)
        return since <= 1 or self._schema_at_least(since)

    def _schema_at_least(self, version: int) -> bool:
        """Whether the file's schema is ``version`` or newer (an older one is upgraded by its first write)."""
        return self._read("PRAGMA user_version")[0][0] >= version

    def _scrub_log(self) -> None:
        """Copy the log into the file and truncate it: deleted pages must not linger there."""
        try:
            with self._lock:
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except _SQLITE_FAILURES as exc:
            log.warning("%s: the log could not be scrubbed now (%s); it is when the gallery is next closed",
                        self._shown, exc)
            return
        if busy:
            log.warning("%s: another program holds the gallery open; the log is scrubbed when it closes", self._shown)

    # -- vectors and samples ---------------------------------------------------------------

    def _dimensions(self, model_id: str) -> int | None:
        rows = self._read("SELECT dimensions FROM models WHERE id = ?", (model_id,))
        return rows[0][0] if rows else None

    def _opened_vector(self, blob, table: str):
        """A stored vector's bytes, or None where it fails to open (its row is skipped, not fatal);
        a plain gallery's as stored, for ``_check_vectors`` to judge."""
        if not self._fields.encrypted:
            return blob
        try:
            return self._fields.blob(blob, f"{table}.vector", "a stored vector")
        except _Damaged:
            return None

    def _check_vectors(self, vectors: list, dimensions: int | None, owners: list[str]) -> np.ndarray:
        """(N, D) float32 from opened blobs, refusing a wrong length or a NaN or infinity: the
        vectors disagree with the model, which `reembed` repairs."""
        for blob, owner in zip(vectors, owners):
            if not isinstance(blob, bytes) or dimensions is None or len(blob) != 4 * dimensions:
                size = f"{len(blob) / 4:g} numbers" if isinstance(blob, bytes) else type(blob).__name__
                raise self._damaged(f"a stored vector of {printable(owner)} is {size}, not {dimensions}; "
                                    "run `oneshot reembed`")
        if not vectors:
            return np.zeros((0, dimensions or 0), dtype=np.float32)
        matrix = np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(vectors), dimensions).astype(np.float32)
        finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            owner = owners[int(np.argmin(finite))]
            raise self._damaged(f"a stored vector of {printable(owner)} is not finite (NaN or infinity); "
                                "run `oneshot reembed`")
        return matrix

    def vectors(self, model_id: str) -> GalleryVectors:
        """Every sample vector of ``model_id``, grouped by person."""
        return self._grouped_vectors(_SAMPLES, model_id)

    def negative_vectors(self, model_id: str) -> GalleryVectors:
        """Every negative's vector of ``model_id``, grouped by person (``names``: whose negatives)."""
        return self._grouped_vectors(_NEGATIVES, model_id)

    def appended_vectors(self, model_id: str, known: GalleryVectors) -> GalleryVectors | None:
        """``known`` with the sample vectors stored since it was read, or None when the gallery
        changed otherwise (a rename, a forget, a re-embed...) and only a full read is right.

        A local file answers None and is read whole (0.5 s at 100k samples). A shared gallery
        answers from its server's change marks, so a station catches up with another one's
        enrolment without reading every vector again (``PostgresGallery``).
        """
        return None

    def _grouped_vectors(self, kind: tuple[str, str, str], model_id: str, after: int = 0) -> GalleryVectors:
        table, vectors, key = kind
        if not self._has_table(table):
            return GalleryVectors(names=[], owners=np.zeros(0, dtype=np.int64), matrix=np.zeros((0, 0), np.float32),
                                  last_id=after)
        dimensions = self._dimensions(model_id)
        masked = self._masked_flag(kind)
        rows = self._read(
            f"SELECT p.id, p.name, e.vector, s.id, {masked} FROM {vectors} e JOIN {table} s ON s.id = e.{key} "
            "JOIN people p ON p.id = s.person_id WHERE e.model_id = ? AND s.id > ? ORDER BY p.id, s.id",
            (model_id, after),
        )
        names: list[str] = []
        kept, owners, row_names, blobs = [], [], [], []
        last_person, opened = None, None
        for row in rows:
            person_id, name, blob = row[:3]
            if person_id != last_person:
                last_person, opened = person_id, self._opened_name(name)
                if opened is not None:
                    names.append(opened)
            vector = self._opened_vector(blob, vectors)
            if opened is None or vector is None:
                continue
            kept.append(row)
            owners.append(len(names) - 1)
            row_names.append(opened)
            blobs.append(vector)
        matrix = self._check_vectors(blobs, dimensions, row_names)
        if not kept:
            matrix = np.zeros((0, 0), dtype=np.float32)
        flags = np.array([bool(row[4]) for row in kept], dtype=bool)
        return GalleryVectors(names=names, owners=np.array(owners, dtype=np.int64), matrix=matrix,
                              last_id=max((row[3] for row in rows), default=after),
                              masked=flags if flags.any() else None, skipped=len(rows) - len(kept))

    def _masked_flag(self, kind: tuple[str, str, str]) -> str:
        """What to select for a row's masked flag: only samples have one, from schema 4 on."""
        return "s.masked" if kind == _SAMPLES and self._has_column("samples", "masked") else "0"

    def samples(self, damaged: list[DamagedEntry] | None = None) -> list[StoredSample]:
        """Every sample with its chip, for re-embedding and export. With a ``damaged`` list, a
        sample whose chip, source or person's name fails to open or decode goes there instead
        of refusing the whole read (what lets ``reembed`` rebuild the rest)."""
        return self._stored(_SAMPLES, "sample", damaged)

    def negative_samples(self, damaged: list[DamagedEntry] | None = None) -> list[StoredSample]:
        """Every negative with its chip (``name``: whom it is not), for re-embedding; ``damaged``
        as for ``samples``."""
        return self._stored(_NEGATIVES, "negative", damaged)

    def _stored(self, kind: tuple[str, str, str], what: str, damaged: list[DamagedEntry] | None) -> list[StoredSample]:
        table = kind[0]
        if not self._has_table(table):
            return []
        masked = self._masked_flag(kind)
        rows = self._read(
            "SELECT s.id, p.id, p.name, CASE WHEN length(s.chip) > ? THEN NULL ELSE s.chip END, s.quality, "
            f"s.source, s.created, {masked} FROM {table} s JOIN people p ON p.id = s.person_id ORDER BY p.id, s.id",
            (MAX_STORED_CHIP,),
        )
        samples = []
        for row in rows:
            try:
                samples.append(self._stored_sample(table, what, row))
            except (_Damaged, GalleryError) as exc:  # GalleryError: a chip that does not decode
                if damaged is None:
                    raise (self._damaged(str(exc)) if isinstance(exc, _Damaged)
                           else GalleryError(f"{self._shown}: {exc}")) from None
                damaged.append(DamagedEntry(row[0], 1, str(exc)))
        return samples

    def _stored_sample(self, table: str, what: str, row: tuple) -> StoredSample:
        sample_id, person_id, name, png, quality, source, created, is_masked = row
        if not isinstance(name, (str, bytes)) or not isinstance(quality, (int, float)):
            raise _Damaged(f"{what} {sample_id} is not in the shape the schema promises")
        opened = self._opened_name(name)
        if opened is None:
            raise _Damaged(f"{what} {sample_id} belongs to damaged entry #{person_id}")
        png = self._fields.blob(png, f"{table}.chip", f"the chip of {what} {sample_id}")
        chip = decode_chip(png, what=f"the chip of {what} {sample_id} ({printable(opened)})")
        return StoredSample(sample_id, opened, chip, float(quality),
                            self._fields.text(source, f"{table}.source", f"the source of {what} {sample_id}"),
                            _text(created, "a date"), bool(is_masked))

    def thumbnails(self) -> dict[str, tuple[np.ndarray | None, int]]:
        """name -> (first sample's chip, sample count), by name: the gallery manager's icons.

        One query, so a gallery of many people opens without one round trip per person. The
        chip is None only for a person without samples (an import can create one).
        """
        rows = self._read(
            "SELECT p.name, count(s.id), "
            "(SELECT CASE WHEN length(f.chip) > ? THEN NULL ELSE f.chip END FROM samples f "
            "WHERE f.person_id = p.id ORDER BY f.id LIMIT 1) "
            "FROM people p LEFT JOIN samples s ON s.person_id = p.id GROUP BY p.id",
            (MAX_STORED_CHIP,),
        )
        thumbnails = {}
        for stored, count, png in sorted(rows, key=lambda row: name_key(self._name(row[0]))):
            name = self._name(stored)
            if png is None and count:
                raise self._damaged(f"the chip of {printable(name)} is missing or too large")
            try:
                png = self._fields.blob(png, "samples.chip", f"the chip of {printable(name)}")
                thumbnails[name] = (decode_chip(png, what=f"the chip of {printable(name)}") if png is not None
                                    else None, count)
            except GalleryError as exc:
                raise GalleryError(f"{self._shown}: {exc}") from None
            except _Damaged as exc:
                raise self._damaged(str(exc)) from None
        return thumbnails

    def sample_vectors(self, model_id: str) -> dict[int, np.ndarray]:
        """sample id -> its ``model_id`` vector; one that fails to open is left out, as if missing
        (so re-embedding the missing ones replaces it)."""
        return self._vectors_by_id(_SAMPLES, model_id, "sample")

    def negative_sample_vectors(self, model_id: str) -> dict[int, np.ndarray]:
        """negative id -> its ``model_id`` vector."""
        return self._vectors_by_id(_NEGATIVES, model_id, "negative")

    def _vectors_by_id(self, kind: tuple[str, str, str], model_id: str, what: str) -> dict[int, np.ndarray]:
        table, vectors, key = kind
        if not self._has_table(table):
            return {}
        dimensions = self._dimensions(model_id)
        rows = [(chip_id, vector) for chip_id, blob in
                self._read(f"SELECT {key}, vector FROM {vectors} WHERE model_id = ?", (model_id,))
                if (vector := self._opened_vector(blob, vectors)) is not None]
        matrix = self._check_vectors([row[1] for row in rows], dimensions, [f"{what} {row[0]}" for row in rows])
        return {chip_id: matrix[index] for index, (chip_id, _) in enumerate(rows)}

    def store_embeddings(self, model_id: str, vectors: dict[int, np.ndarray],
                         negatives: dict[int, np.ndarray] | None = None, complete: bool = False) -> None:
        """Add or replace the ``model_id`` vectors of existing samples (and of existing
        negatives: ``negatives``), in one transaction. ``complete``: these are the vectors of
        every chip, so the model's others and its registered length go first: how vectors that
        disagree with the model (a wrong length) are replaced rather than refused."""
        checked = {sample_id: _checked_vector(v) for sample_id, v in vectors.items()}
        checked_negatives = {negative_id: _checked_vector(v) for negative_id, v in (negatives or {}).items()}
        with self._write() as db:
            if complete:
                for table in ("embeddings", "negative_embeddings"):
                    db.execute(f"DELETE FROM {table} WHERE model_id = ?", (model_id,))
                db.execute("DELETE FROM models WHERE id = ?", (model_id,))
            dimensions = {len(v) for v in checked.values()} | {len(v) for v in checked_negatives.values()}
            if len(dimensions) > 1:
                raise ValueError("vectors of one model must share one length")
            if dimensions:
                self._register_model(db, model_id, dimensions.pop())
            db.executemany(
                "INSERT INTO embeddings (sample_id, model_id, vector) VALUES (?, ?, ?) "
                "ON CONFLICT (sample_id, model_id) DO UPDATE SET vector = excluded.vector",
                [(sample_id, model_id, self._fields.seal(v.tobytes(), "embeddings.vector"))
                 for sample_id, v in checked.items()],
            )
            db.executemany(
                "INSERT INTO negative_embeddings (negative_id, model_id, vector) VALUES (?, ?, ?) "
                "ON CONFLICT (negative_id, model_id) DO UPDATE SET vector = excluded.vector",
                [(negative_id, model_id, self._fields.seal(v.tobytes(), "negative_embeddings.vector"))
                 for negative_id, v in checked_negatives.items()],
            )
            self._record(db, "re-embed", "", f"{len(checked)} samples and {len(checked_negatives)} negatives "
                                             f"with model {model_id}")

    def count_missing(self, model_id: str) -> int:
        """Samples and negatives with no vector for ``model_id`` (they need ``reembed``)."""
        missing = 0
        for table, vectors, key in (_SAMPLES, _NEGATIVES):
            if self._has_table(table):
                missing += self._read(
                    f"SELECT count(*) FROM {table} s WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {vectors} e WHERE e.{key} = s.id AND e.model_id = ?)",
                    (model_id,),
                )[0][0]
        return missing

    def content_digest(self, history: bool = True) -> str:
        """A sha256 over every row of every table, sealed values opened, in a fixed order: equal
        digests, equal galleries, whatever the page layout and whether or how it is encrypted
        (the tests compare it before and after a failed write, and, with ``history=False``,
        across ``reprotect``, which adds an entry)."""
        import hashlib

        digest = hashlib.sha256()
        tables = [table for table in REQUIRED_COLUMNS if history or table != "history"]
        with self._lock:
            for table, columns, rows in self._opened_rows(self._db, tables):
                digest.update(table.encode())
                keep = [index for index, column in enumerate(columns) if column != "name_key"]
                for row in rows:
                    digest.update(repr([row[index] for index in keep]).encode("utf-8", "backslashreplace"))
        return digest.hexdigest()

    def _opened_rows(self, db: sqlite3.Connection, tables=tuple(REQUIRED_COLUMNS)):
        """(table, columns, rows) of every data table, oldest row first, sealed values opened."""
        for table in tables:
            if table == "protection" or not self._has_table(table):
                continue
            columns = self._columns(db, table)
            sealed = {index: column for index, column in enumerate(columns) if column in SEALED_COLUMNS.get(table, ())}
            rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2")
            yield table, columns, (self._opened(table, sealed, row) for row in rows)

    def _columns(self, db, table: str) -> list[str]:
        """A table's columns in their order (the database's own catalogue)."""
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]

    def _opened(self, table: str, sealed: dict[int, str], row: tuple) -> list:
        values = list(row)
        for index, column in sealed.items():
            what = f"{column} of {table} row {values[0]}"
            try:
                if column in TEXT_COLUMNS:
                    values[index] = self._fields.text(values[index], f"{table}.{column}", what)
                else:
                    values[index] = self._fields.blob(values[index], f"{table}.{column}", what)
            except _Damaged as exc:
                raise self._damaged(str(exc)) from None
        return values

    # -- encryption: encrypt, decrypt, rekey ------------------------------------------------

    def reprotect(self, mode: str, passphrase: PassphraseSource = None,
                  progress: Callable[[int, int], None] | None = None) -> tuple[str, str | None]:
        """Encrypt the gallery under a new key ("key": keyring or key file; "passphrase"), or
        decrypt it ("none"); return what it is now, in words, and what copies of the file made
        before now need (the old key or passphrase; None when it was plain), for a warning.

        Everything is copied into a new file built beside the gallery and renamed over it, so a
        process killed at any moment leaves the old file (with its old key) or the new one
        (with its new key), never a mix. The old key is kept as a retired key: copies and
        backups made before still need it. Other programs must not have the gallery open:
        refused if one is writing.
        """
        self.require_writable()
        action = "decrypt" if mode == "none" else ("rekey" if self.encrypted else "encrypt")
        protection, fields = new_protection(mode, _asked_once(passphrase), self._shown, str(self.path))
        temporary = self.path.parent / f".{self.path.name}.{secrets.token_hex(8)}.{action}"
        replaced = False
        with self._lock:
            try:
                self._hold_quiet_gallery()
                try:
                    self._remove_leftovers()
                    total = self._read("SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM people)")[0][0]

                    def fill(target: sqlite3.Connection) -> None:
                        self._copy_into(target, fields, total, progress)
                        self._record(target, action, "", fields.description, fields)
                    self._build(temporary, protection, f"{action} the gallery", fill)
                    os.replace(temporary, self.path)
                    replaced = True
                    sync_folder(self.path.parent)
                finally:
                    self._db.execute("ROLLBACK")
            except OSError as exc:
                raise self._os_error(exc, f"{action} the gallery") from None
            except _SQLITE_FAILURES as exc:
                raise self._error(exc, "write") from None
            finally:
                _remove_database_files(temporary)
                if not replaced:
                    forget_stored_key(protection)
            old = self._protection
            self._db.close()
            self._db = self._writer()
            self._protection, self._fields = protection, fields
            self._inode = self._identity()
            self._local_changes += 1
        older_copies = retire_stored_key(old, str(self.path))
        log.info("%s: gallery %sed: now %s", self._shown, action.rstrip("e"), fields.description)
        return fields.description, older_copies

    def _remove_leftovers(self) -> None:
        """Delete the copies a re-encryption killed midway left beside the gallery (a killed
        ``decrypt`` leaves a plain copy); only called with the write lock held, when none runs."""
        for action in ("encrypt", "decrypt", "rekey"):
            for leftover in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.{action}"):
                log.info("%s: removing %s, left by an interrupted %s", self._shown, leftover.name, action)
                _remove_database_files(leftover)

    def _hold_quiet_gallery(self) -> None:
        """Take the write lock with the log empty (nothing waiting to be copied into the file,
        so no log of the old file can be replayed onto the new one); refuse if others write."""
        for _ in range(3):
            busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            self._db.execute("BEGIN IMMEDIATE")
            if not busy and not self._wal_size():
                return
            self._db.execute("ROLLBACK")
        raise GalleryError(f"{self._shown}: another program has the gallery open and is using it; close it and try "
                           "again: nothing was changed")

    def _copy_into(self, target: sqlite3.Connection, fields: PlainFields, total: int,
                   progress: Callable[[int, int], None] | None) -> None:
        """Every row into ``target``, sealed values re-sealed with ``fields``; ids are kept."""
        done = 0
        for table, columns, rows in self._opened_rows(self._db):
            sealed = {index: column for index, column in enumerate(columns) if column in SEALED_COLUMNS.get(table, ())}
            key_index = columns.index("name_key") if table == "people" else None
            name_index = columns.index("name") if table == "people" else None
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            batch = []
            for values in rows:
                if key_index is not None:
                    values[key_index] = fields.key(name_key(values[name_index]))
                for index, column in sealed.items():
                    values[index] = fields.seal(values[index], f"{table}.{column}")
                batch.append(values)
                if len(batch) == 500:
                    target.executemany(insert, batch)
                    batch.clear()
                if table in ("people", "samples"):
                    done += 1
                    if progress is not None and done % 500 == 0:
                        progress(done, total)
            target.executemany(insert, batch)
        if progress is not None:
            progress(total, total)

    # -- history and retention -------------------------------------------------------------

    def _record(self, db: sqlite3.Connection, action: str, subject: str = "", detail: str = "",
                fields: PlainFields | None = None) -> None:
        """Append one history entry inside the caller's transaction (see ``history``)."""
        fields = fields or self._fields
        at, user, program = _now(), _history.current_user(), _history.PROGRAM["name"]
        row = db.execute("SELECT link FROM history ORDER BY id DESC LIMIT 1").fetchone()
        previous = row[0] if row and isinstance(row[0], bytes) else _history.GENESIS
        link = _history.chain_digest(previous, at, user, program, action, subject, detail)
        db.execute("INSERT INTO history (at, user, program, action, subject, detail, link) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (at, user, program, action, fields.seal(subject, "history.subject"),
                    fields.seal(detail, "history.detail"), link))
        (count,) = db.execute("SELECT count(*) FROM history").fetchone()
        write_anchor(db, fields, _history.Anchor(count, link))

    def _anchor_history(self, db) -> None:
        """Seal the head of a history kept before anchors (schema < 4) as it stands: trusted on
        its first upgrade, from then on any cut shows (a later schema with no anchor is an alarm)."""
        if self._fields.encrypted and self._has_table("history"):
            row = db.execute("SELECT count(*), (SELECT link FROM history ORDER BY id DESC LIMIT 1) FROM history").fetchone()
            write_anchor(db, self._fields, _history.Anchor(row[0], row[1] if isinstance(row[1], bytes)
                                                           else _history.GENESIS))

    def record(self, action: str, subject: str = "", detail: str = "") -> None:
        """Add a history entry for something done outside the gallery (an export, a model switch)."""
        with self._write(counts=False) as db:
            self._record(db, action, subject, detail)

    def history(self) -> tuple[list[_history.HistoryEntry], _history.ChainBreak | None]:
        """Every history entry, oldest first, and where the history was altered behind SQLite's
        back (an entry changed, added, or cut from the end: see ``history.verify_chain``), or
        None when intact. A plain gallery's history can be rewritten whole (no key): see
        ``history_is_sealed``."""
        if not self._has_table("history"):
            return [], None
        entries = []
        with self._lock:
            snapshot = isinstance(self._db, sqlite3.Connection) and not self._db.in_transaction
            if snapshot:  # the anchor and the entries of one moment: a write in between is no alarm
                self._db.execute("BEGIN")
            try:
                anchor = read_anchor(self._db, self._fields)
                if anchor == _history.MISSING_ANCHOR and not self._history_anchored():
                    anchor = None  # kept before anchors (schema < 4): the upgrading write anchors it
                for _, columns, rows in self._opened_rows(self._db, ("history",)):
                    for values in rows:
                        row = dict(zip(columns, values))
                        try:
                            entry = _history.HistoryEntry(int(row["id"]), _text(row["at"], "a date"),
                                                         _text(row["user"], "a user"),
                                                         _text(row["program"], "a program"),
                                                         _text(row["action"], "an action"), row["subject"] or "",
                                                         row["detail"] or "")
                        except (_Damaged, TypeError, ValueError):
                            raise self._damaged(f"history entry {printable(row['id'])} is malformed") from None
                        entries.append((entry, row["link"]))
            finally:
                if snapshot:
                    self._db.execute("ROLLBACK")
        return [entry for entry, _ in entries], _history.verify_chain(entries, anchor)

    @property
    def history_is_sealed(self) -> bool:
        """Whether a cut or recomputed history shows: only under a key (an encrypted gallery)."""
        return self._fields.encrypted

    def mark_seen(self, names: list[str]) -> None:
        """Note that these people were identified just now (for the retention period). Not a
        change to anyone's data: no history entry, and the matcher's cache stays valid."""
        when = _now()
        with self._write(counts=False) as db:
            for name in names:
                person_id = self._person_id(db, name)
                if person_id is not None:
                    db.execute("UPDATE people SET last_seen = ? WHERE id = ?", (when, person_id))

    def unseen_for(self, days: float) -> list[str]:
        """People not identified (nor enrolled) in the last ``days`` days."""
        cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
        seen = "coalesce(last_seen, created)" if self._has_table("history") else "created"
        rows = self._read(f"SELECT name FROM people WHERE {seen} < ? ORDER BY id", (cutoff,))
        return [self._name(row[0]) for row in rows]

    def forget_unseen(self, days: float) -> list[str]:
        """The retention period: forget everyone not seen for ``days`` days; return who went."""
        if not days > 0:
            raise InputError(f"the retention period must be a positive number of days, not {days!r}")
        forgotten = []
        for name in self.unseen_for(days):
            self._deleting(self._forget, name, f" (retention: not seen for {days:g} days)")
            forgotten.append(name)
        return forgotten


def _pixel_digest(chip) -> bytes:
    """A digest of a chip's pixels (RGB array, or PNG bytes): equal chips, equal digests."""
    import hashlib

    if isinstance(chip, (bytes, bytearray, memoryview)):
        chip = decode_chip(bytes(chip))
    pixels = np.ascontiguousarray(chip, dtype=np.uint8)
    return hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).digest()


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Run every migration after ``version`` on ``db`` (inside the caller's transaction)."""
    for number in sorted(MIGRATIONS):
        if number > version:
            for statement in _statements(MIGRATIONS[number]):
                db.execute(statement)


def _statements(script: str) -> list[str]:
    """Split a script into statements, keeping a trigger's BEGIN ... END in one piece."""
    statements, pending = [], ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    return statements


def _checked_vector(embedding) -> np.ndarray:
    vector = np.ascontiguousarray(embedding, dtype="<f4").reshape(-1)
    if not 1 <= len(vector) <= MAX_DIMENSIONS:
        raise InputError(f"a face vector must have 1 to {MAX_DIMENSIONS} numbers, not {len(vector)}")
    if not np.all(np.isfinite(vector)):
        raise InputError("a face vector is not finite (NaN or infinity): nothing was stored")
    return vector


def _remove_database_files(path: Path) -> None:
    """Delete a temporary database and whatever SQLite left beside it."""
    for leftover in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{os.fsdecode(path)}{leftover}")
        except OSError:
            pass


def _asked_once(source: PassphraseSource) -> PassphraseSource:
    """A passphrase function that asks at most once, however often the gallery needs it."""
    if not callable(source):
        return source
    answer: list[str] = []

    def ask() -> str:
        if not answer:
            answer.append(source())
        return answer[0]
    return ask


def sync_folder(folder: Path) -> None:
    """Make a new directory entry durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
