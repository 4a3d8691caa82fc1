"""The one-shot gallery: people, their face samples and embeddings, in one SQLite file.

One file in the user data folder (or wherever ``--gallery`` / ``ONESHOT_GALLERY`` says),
created readable by its owner only. It holds biometric data, so SQLite's ``secure_delete``
is on, the write-ahead log is checkpointed and truncated after a deletion, temporary tables
stay in memory, and nothing here writes chips or vectors anywhere else. A sample keeps its
aligned chip, so a new embedder can re-embed everyone without a new enrolment; embeddings
are stored per model, so switching back to an older model needs no work at all.

Every write is one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: a process
killed mid-batch leaves exactly the committed samples, and two processes writing at once
wait for each other instead of losing data.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError
from .paths import user_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4F534731  # "OSG1": tells our files from other SQLite databases
SQLITE_HEADER = b"SQLite format 3\x00"
MAX_NAME_LENGTH = 100

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
}


class GalleryError(InputError):
    """A gallery file that cannot be used: foreign, damaged, from a newer version, ..."""


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
    return clean_name(name).casefold()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Person:
    name: str
    samples: int
    created: str
    note: str


@dataclass(frozen=True, eq=False)
class GalleryVectors:
    """Every stored vector of one model: row i belongs to ``names[owners[i]]``.

    Rows are grouped by person (owners is non-decreasing), which lets the matcher take the
    per-person minimum with one ``np.minimum.reduceat``.
    """

    names: list[str]
    owners: np.ndarray  # (N,) int64 index into names
    matrix: np.ndarray  # (N, D) float32


@dataclass(frozen=True, eq=False)
class StoredSample:
    id: int
    name: str
    chip: np.ndarray  # (S, S, 3) uint8 RGB
    quality: float
    source: str
    created: str


def encode_chip(chip: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the chip as PNG")
    return png.tobytes()


def decode_chip(png: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise GalleryError("a stored chip is damaged (not a readable PNG)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Gallery:
    """One open gallery file. Safe to share between threads (calls are serialised)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_gallery_path()
        self._lock = threading.RLock()
        self._local_changes = 0
        _create_private_file(self.path)
        self._db = self._connect()

    # -- opening -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise GalleryError(f"{self.path}: cannot open the gallery ({exc})") from None
        try:
            self._check_and_prepare(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise GalleryError(f"{self.path}: damaged or not a gallery ({exc})") from None
        except BaseException:
            db.close()
            raise
        return db

    def _check_and_prepare(self, db: sqlite3.Connection) -> None:
        """Refuse foreign or damaged files before writing a single byte to them."""
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        if application_id != APPLICATION_ID and (application_id or tables):
            raise GalleryError(f"{self.path}: not a OneShot gallery (an SQLite database of another program)")
        if version > SCHEMA_VERSION:
            raise GalleryError(f"{self.path}: made by a newer OneShot (schema {version}, this one reads {SCHEMA_VERSION})")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise GalleryError(f"{self.path}: the gallery is damaged (integrity check: {check})")
        for pragma in ("secure_delete = ON", "foreign_keys = ON", "temp_store = MEMORY", "synchronous = FULL"):
            db.execute(f"PRAGMA {pragma}")
        db.execute("PRAGMA journal_mode = WAL")
        self._migrate(db)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")
                log.info("%s: schema migrated to version %d", self.path, target)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Gallery":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self):
        """One atomic write transaction; counts as a change for ``revision``."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._local_changes += 1

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @property
    def revision(self) -> tuple[int, int]:
        """Changes whenever this or any other connection commits: the matcher's cache key."""
        with self._lock:
            return self._db.execute("PRAGMA data_version").fetchone()[0], self._local_changes

    # -- people --------------------------------------------------------------------------

    _PEOPLE = ("SELECT p.name, count(s.id), p.created, p.note FROM people p "
               "LEFT JOIN samples s ON s.person_id = p.id {where} GROUP BY p.id ORDER BY p.name_key")

    def people(self) -> list[Person]:
        return [Person(*row) for row in self._read(self._PEOPLE.format(where=""))]

    def person(self, name: str) -> Person:
        """One person by name (case-insensitive), looked up by its key, not by listing everyone."""
        rows = self._read(self._PEOPLE.format(where="WHERE p.name_key = ?"), (name_key(name),))
        if not rows:
            raise UnknownPersonError(name)
        return Person(*rows[0])

    def check_name(self, name: str, enrolled: bool) -> str:
        """Raise unless ``name`` is valid and (``enrolled``) known or (not) free; return it cleaned.

        Lets callers refuse a bad name before any slow work; ``enroll`` checks again.
        """
        name = clean_name(name)
        with self._lock:
            known = self._person_id(self._db, name) is not None
        if enrolled and not known:
            raise UnknownPersonError(name)
        if known and not enrolled:
            raise DuplicateNameError(name)
        return name

    def _person_id(self, db: sqlite3.Connection, name: str) -> int | None:
        row = db.execute("SELECT id FROM people WHERE name_key = ?", (name_key(name),)).fetchone()
        return row[0] if row else None

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
    ) -> Person:
        """Store one sample: a new person, or (``add_to_existing``) one more of a known person."""
        name = clean_name(name)
        with self._write() as db:
            person_id = self._person_id(db, name)
            if person_id is None and add_to_existing:
                raise UnknownPersonError(name)
            if person_id is not None and not add_to_existing:
                raise DuplicateNameError(name)
            if person_id is None:
                person_id = self._insert_person(db, name, note)
            self._insert_sample(db, person_id, chip, embedding, model_id, quality, source)
        return self.person(name)

    def import_people(self, people: list[tuple[str, str, list[tuple]]], model_id: str) -> int:
        """Add new people with their samples ``(chip, embedding, quality, source)``, all or nothing.

        Refuses (and writes nothing) if any name is already enrolled or appears twice.
        """
        count = 0
        with self._write() as db:
            for name, note, samples in people:
                name = clean_name(name)
                if self._person_id(db, name) is not None:
                    raise DuplicateNameError(name)
                person_id = self._insert_person(db, name, note)
                for chip, embedding, quality, source in samples:
                    self._insert_sample(db, person_id, chip, embedding, model_id, quality, source)
                    count += 1
        return count

    def _insert_person(self, db: sqlite3.Connection, name: str, note: str) -> int:
        return db.execute(
            "INSERT INTO people (name, name_key, created, note) VALUES (?, ?, ?, ?)",
            (name, name.casefold(), _now(), note),
        ).lastrowid

    def _insert_sample(self, db: sqlite3.Connection, person_id: int, chip: np.ndarray, embedding: np.ndarray,
                       model_id: str, quality: float, source: str) -> None:
        vector = np.ascontiguousarray(embedding, dtype="<f4").reshape(-1)
        self._register_model(db, model_id, len(vector))
        sample_id = db.execute(
            "INSERT INTO samples (person_id, chip, quality, source, created) VALUES (?, ?, ?, ?, ?)",
            (person_id, encode_chip(chip), float(quality), source, _now()),
        ).lastrowid
        db.execute(
            "INSERT INTO embeddings (sample_id, model_id, vector) VALUES (?, ?, ?)",
            (sample_id, model_id, vector.tobytes()),
        )

    def _register_model(self, db: sqlite3.Connection, model_id: str, dimensions: int) -> None:
        row = db.execute("SELECT dimensions FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            db.execute("INSERT INTO models (id, dimensions, added) VALUES (?, ?, ?)", (model_id, dimensions, _now()))
        elif row[0] != dimensions:
            raise GalleryError(f"model {model_id!r} has {row[0]}-d vectors in this gallery, not {dimensions}-d")

    def rename(self, old: str, new: str) -> Person:
        new = clean_name(new)
        with self._write() as db:
            person_id = self._person_id(db, old)
            if person_id is None:
                raise UnknownPersonError(old)
            other = self._person_id(db, new)
            if other is not None and other != person_id:
                raise DuplicateNameError(new)
            db.execute("UPDATE people SET name = ?, name_key = ? WHERE id = ?", (new, new.casefold(), person_id))
        return self.person(new)

    def forget(self, name: str) -> int:
        """Delete a person and every sample, irrecoverably; return how many samples went."""
        with self._write() as db:
            person_id = self._person_id(db, name)
            if person_id is None:
                raise UnknownPersonError(name)
            count = db.execute("SELECT count(*) FROM samples WHERE person_id = ?", (person_id,)).fetchone()[0]
            db.execute("DELETE FROM people WHERE id = ?", (person_id,))
        self._scrub_log()
        return count

    def _scrub_log(self) -> None:
        """Copy the log into the file and truncate it: deleted pages must not linger there."""
        with self._lock:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("%s: another program holds the gallery open; the log is scrubbed when it closes", self.path)

    # -- vectors and samples ---------------------------------------------------------------

    def vectors(self, model_id: str) -> GalleryVectors:
        """Every vector of ``model_id``, grouped by person."""
        rows = self._read(
            "SELECT p.id, p.name, e.vector FROM embeddings e JOIN samples s ON s.id = e.sample_id "
            "JOIN people p ON p.id = s.person_id WHERE e.model_id = ? ORDER BY p.id, s.id",
            (model_id,),
        )
        names: list[str] = []
        owners = np.empty(len(rows), dtype=np.int64)
        last_id = None
        for row_index, (person_id, name, _) in enumerate(rows):
            if person_id != last_id:
                names.append(name)
                last_id = person_id
            owners[row_index] = len(names) - 1
        if rows:
            matrix = np.frombuffer(b"".join(row[2] for row in rows), dtype="<f4").reshape(len(rows), -1)
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        return GalleryVectors(names=names, owners=owners, matrix=matrix.astype(np.float32))

    def samples(self) -> list[StoredSample]:
        """Every sample with its chip, for re-embedding and export."""
        rows = self._read(
            "SELECT s.id, p.name, s.chip, s.quality, s.source, s.created FROM samples s "
            "JOIN people p ON p.id = s.person_id ORDER BY p.id, s.id"
        )
        return [StoredSample(i, name, decode_chip(png), q, src, t) for i, name, png, q, src, t in rows]

    def thumbnails(self) -> dict[str, tuple[np.ndarray | None, int]]:
        """name -> (first sample's chip, sample count), by name: the gallery manager's icons.

        One query, so a gallery of many people opens without one round trip per person. The
        chip is None only for a person without samples (an import can create one).
        """
        rows = self._read(
            "SELECT p.name, count(s.id), "
            "(SELECT f.chip FROM samples f WHERE f.person_id = p.id ORDER BY f.id LIMIT 1) "
            "FROM people p LEFT JOIN samples s ON s.person_id = p.id GROUP BY p.id ORDER BY p.name_key"
        )
        return {name: (decode_chip(png) if png is not None else None, count) for name, count, png in rows}

    def sample_vectors(self, model_id: str) -> dict[int, np.ndarray]:
        """sample id -> its ``model_id`` vector."""
        rows = self._read("SELECT sample_id, vector FROM embeddings WHERE model_id = ?", (model_id,))
        return {sample_id: np.frombuffer(vector, dtype="<f4").astype(np.float32) for sample_id, vector in rows}

    def store_embeddings(self, model_id: str, vectors: dict[int, np.ndarray]) -> None:
        """Add or replace the ``model_id`` vectors of existing samples, in one transaction."""
        with self._write() as db:
            dimensions = {len(np.ravel(v)) for v in vectors.values()}
            if len(dimensions) > 1:
                raise ValueError("vectors of one model must share one length")
            if dimensions:
                self._register_model(db, model_id, dimensions.pop())
            db.executemany(
                "INSERT OR REPLACE INTO embeddings (sample_id, model_id, vector) VALUES (?, ?, ?)",
                [(sample_id, model_id, np.ascontiguousarray(v, dtype="<f4").tobytes()) for sample_id, v in vectors.items()],
            )

    def count_missing(self, model_id: str) -> int:
        """Samples with no vector for ``model_id`` (they need ``reembed``)."""
        return self._read(
            "SELECT count(*) FROM samples s WHERE NOT EXISTS "
            "(SELECT 1 FROM embeddings e WHERE e.sample_id = s.id AND e.model_id = ?)",
            (model_id,),
        )[0][0]


def _create_private_file(path: Path) -> None:
    """Create the gallery file as owner-only (0600) before SQLite touches it."""
    if path.is_dir():
        raise GalleryError(f"{path}: is a directory, not a gallery file")
    if path.exists():
        if path.stat().st_size and not _has_sqlite_header(path):
            raise GalleryError(f"{path}: not a OneShot gallery (not an SQLite database)")
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another process created it a moment ago
    except OSError as exc:
        raise GalleryError(f"{path}: cannot create the gallery ({exc.strerror or exc})") from None


def _has_sqlite_header(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError as exc:
        raise GalleryError(f"{path}: cannot read the gallery ({exc.strerror or exc})") from None
