"""The gallery in one SQLite file: the default, embedded database port.

One file in the user data folder (or wherever ``--gallery`` / ``ONESHOT_GALLERY`` says),
created readable by its owner only. It holds biometric data, so SQLite's ``secure_delete``
is on, the write-ahead log is checkpointed and truncated after a deletion, temporary tables
stay in memory, and nothing here writes chips or vectors anywhere else.

Every write is one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: a process
killed mid-batch leaves exactly the committed rows, and two processes writing at once wait
for each other instead of losing data.

Opening never writes. A file is checked (regular file, SQLite header, our application id,
schema version, integrity, tables and columns) through a read-only connection before
anything else touches it, so a foreign or damaged file is refused and left byte-for-byte as
it was. A file of an older schema is read as it is (what it lacks reads as empty) and
upgraded inside its first write transaction, so a failed write leaves it at its old
version. A gallery on read-only media, or one this user may not write, is opened read-only
and a write then fails with a clear message. A new gallery is built completely under a
private temporary name and then hard-linked into place, so two processes creating the same
gallery at once both succeed. A full disk makes the failing write say so and leaves the
gallery readable; a small reserve file beside the gallery is given up when a deletion finds
the disk full, so people can still be deleted.
"""

from __future__ import annotations

import errno
import functools
import glob
import logging
import os
import secrets
import sqlite3
import stat
import struct
import threading
import urllib.parse
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from ..errors import DiskFullError, GalleryError, ReadOnlyGalleryError
from ..paths import user_path
from .chips import MAX_DIMENSIONS
from .files import NotRegularFile, open_regular
from .names import printable, printable_path
from .schema import COLUMN_SINCE, ID_TABLES, SCHEMA_VERSION, TABLE_SINCE, TABLES
from .statements import Statements, written_for

log = logging.getLogger(__name__)
T = TypeVar("T")

APPLICATION_ID = 0x4F534731  # "OSG1": tells our files from other SQLite databases
SQLITE_HEADER = b"SQLite format 3\x00"
RESERVE_BYTES = 1 << 20  # the space kept beside the gallery so a deletion works on a full disk
# The endings of the files a re-encryption builds beside the gallery (see ``replace_with``).
REBUILDS = ("encrypt", "decrypt", "rekey")

# The tables as SQLite keeps them, version by version (a file is upgraded by running the ones after its version).
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
    # 3: encryption at rest (see sealing), the append-only history, and when each person was
    # last identified (for the optional retention period).
    3: """
    CREATE TABLE protection (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        scheme TEXT NOT NULL,  -- keyring, file or passphrase
        key_id TEXT NOT NULL,
        parameters TEXT NOT NULL,  -- JSON: scrypt's salt and costs for a passphrase; the history's anchor
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
        link BLOB NOT NULL  -- SHA-256 chain over every entry so far (history.chain_digest)
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
    # 5: sealed values are bound to their row and owner (sealing.Cell): no new tables, the
    # values are re-sealed in the upgrading write (copy.reseal_in_place).
    5: "",
}
# While a migration re-seals the history, its append-only triggers are lifted and put back.
_APPEND_ONLY = ("history_is_append_only_update", "history_is_append_only_delete")

# SQLite's answers when it cannot set up the shared-memory index of the write-ahead log
# (a read-only folder or medium, a full disk): the open then falls back (see _connect).
_SHM_PROBLEMS = ("SQLITE_IOERR_SHM", "SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT",
                 "SQLITE_READONLY_CANTLOCK", "SQLITE_READONLY_RECOVERY", "SQLITE_CANTOPEN", "SQLITE_IOERR_LOCK",
                 "SQLITE_FULL", "SQLITE_READONLY")
# What SQLite (and Python's decoding of what it returns: a damaged file's text may not be
# UTF-8, even inside an error message) raises on a damaged, locked or unreachable file.
SQLITE_FAILURES = (sqlite3.Error, UnicodeDecodeError)


def default_gallery_path() -> Path:
    """``ONESHOT_GALLERY`` if set, else ``gallery.db`` in the user data folder."""
    return user_path("ONESHOT_GALLERY", "data", "gallery.db")


@functools.cache
def _statements(version: int) -> Statements:
    return written_for("?", version)


class _Statements:
    """Running the repository's statements on one SQLite connection (``self._connection``)."""

    _connection: sqlite3.Connection

    @property
    def sql(self) -> Statements:
        return _statements(self.schema_version())

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self._connection.executemany(sql, rows)

    def insert_id(self, table: str) -> int:
        if table not in ID_TABLES:
            raise ValueError(f"{table} has no ids")
        return self._connection.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]

    def schema_version(self) -> int:
        return self._connection.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, version: int) -> None:
        self._connection.execute(f"PRAGMA user_version = {int(version)}")

    def upgrade_schema(self, version: int) -> None:
        for number in sorted(MIGRATIONS):
            if number > version:
                for statement in split_script(MIGRATIONS[number]):
                    self._connection.execute(statement)

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self._connection.execute(f"PRAGMA table_info({table})")]

    @contextmanager
    def append_only_lifted(self):
        for trigger in _APPEND_ONLY:
            self._connection.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        yield
        for statement in split_script(MIGRATIONS[3]):  # the triggers as the history's table was made with
            if statement.startswith("CREATE TRIGGER"):
                self._connection.execute(statement)


class BuildingFile(_Statements):
    """A new gallery file while it is built (in its one transaction): what copying rows into it needs."""

    shown = ""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._connection.execute(sql, params).fetchall()

    def has_table(self, table: str) -> bool:
        return True


class SqliteDatabase(_Statements):
    """One open gallery file (see the module docstring), serialised by one lock.

    ``readonly=True``: the file is only read (``mode=ro``); a missing file reads as an empty
    gallery and is not created. Otherwise a missing file is created, its first rows written
    by ``first_rows(port, where)`` in the creating transaction.
    """

    in_transit = None

    def __init__(self, path: Path, *, readonly: bool = False,
                 first_rows: Callable[[BuildingFile, str], None] | None = None) -> None:
        self.path = Path(path)
        self.shown = printable_path(self.path)
        self._lock = threading.RLock()
        self._local_changes = 0
        self.read_only_reason: str | None = "it was opened for reading only" if readonly else None
        self.created = False
        self._reserve_checked = self._wal_checked = self._leftovers_checked = False
        self._writing = False  # inside ``transaction``: its failures are the transaction's to report
        self._first_rows = first_rows
        self._connection = self._open(readonly)
        self._inode = self._identity()

    # -- opening ---------------------------------------------------------------------------------

    def _open(self, readonly: bool) -> sqlite3.Connection:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            if os.path.islink(self.path):
                raise GalleryError(f"{self.shown}: a symbolic link to a file that does not exist "
                                   f"({printable_path(os.readlink(self.path))})") from None
            if readonly:
                return self._empty_in_memory()
            self._create()
            info = self._stat()
        except OSError as exc:
            raise GalleryError(f"{self.shown}: cannot open the gallery ({exc.strerror or exc})") from None
        self._check_file(info)
        self._check_header(self._read_header(), info.st_size, self._wal_size())
        if not readonly:
            self.read_only_reason = self._why_not_writable()
        db = self._connect(writable=False)
        try:
            self._validate(db)
        except BaseException:
            db.close()
            raise
        if self.read_only_reason is not None:
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
            raise GalleryError(f"{self.shown}: cannot open the gallery ({exc.strerror or exc})") from None

    def _check_file(self, info: os.stat_result) -> None:
        if stat.S_ISDIR(info.st_mode):
            raise GalleryError(f"{self.shown}: is a directory, not a gallery file")
        if not stat.S_ISREG(info.st_mode):
            raise GalleryError(f"{self.shown}: not a regular file (a device, pipe or socket), not a gallery")
        if info.st_size == 0:
            raise GalleryError(f"{self.shown}: an empty file (0 bytes), not a OneShot gallery "
                               "(delete it to start a new gallery there)")

    def _read_header(self) -> bytes:
        try:
            fd, _ = open_regular(self.path)
        except NotRegularFile:  # swapped since the stat
            raise GalleryError(f"{self.shown}: not a regular file, not a gallery") from None
        except OSError as exc:
            raise GalleryError(f"{self.shown}: cannot read the gallery ({exc.strerror or exc})") from None
        try:
            return os.pread(fd, 100, 0) if hasattr(os, "pread") else os.read(fd, 100)
        except OSError as exc:
            raise GalleryError(f"{self.shown}: cannot read the gallery ({exc.strerror or exc})") from None
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
            raise GalleryError(f"{self.shown}: not a OneShot gallery (not an SQLite database)")
        if len(header) < 100:
            raise GalleryError(f"{self.shown}: the gallery is damaged (truncated to {size} bytes)")
        page_size = struct.unpack(">H", header[16:18])[0]
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            raise GalleryError(f"{self.shown}: the gallery is damaged (its header is corrupt)")
        if wal_size:
            return  # the log may hold a newer first page: SQLite's own reading decides
        if size % page_size:
            raise GalleryError(f"{self.shown}: the gallery is damaged (truncated: {size} bytes is not a whole "
                               f"number of {page_size}-byte pages)")
        change_counter, pages = struct.unpack(">II", header[24:32])
        valid_for = struct.unpack(">I", header[92:96])[0]
        if pages and valid_for == change_counter and pages * page_size > size:
            raise GalleryError(f"{self.shown}: the gallery is damaged (truncated: {size} of "
                               f"{pages * page_size} bytes)")
        application_id = struct.unpack(">i", header[68:72])[0]
        if application_id != APPLICATION_ID:
            raise self._foreign(application_id, empty=pages <= 1 and size <= page_size)

    def _foreign(self, application_id: int, empty: bool = False) -> GalleryError:
        if application_id or not empty:
            return GalleryError(f"{self.shown}: not a OneShot gallery (an SQLite database of another program)")
        return GalleryError(f"{self.shown}: not a OneShot gallery (an empty SQLite database; delete it to start "
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
        except SQLITE_FAILURES as exc:
            if not _error_name(exc).startswith(_SHM_PROBLEMS):
                raise self._error(exc, "open") from None
            problem = exc
        try:
            if writable:
                log.info("%s: the shared-memory log index cannot be created (%s); locking the gallery while "
                         "it is open", self.shown, problem)
                return self._probe(params, exclusive=True)
            if self._wal_size():
                raise GalleryError(f"{self.shown}: cannot read the gallery: it has changes not yet copied from "
                                   f"its log ({self.path.name}-wal), which need a writable folder with free space "
                                   f"({problem})")
            return self._probe({"mode": "ro", "immutable": "1"})
        except SQLITE_FAILURES as exc:
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
                raise GalleryError(f"{self.shown}: made by a newer OneShot (schema {version}, this one reads "
                                   f"{SCHEMA_VERSION})")
            if version < 1:
                raise GalleryError(f"{self.shown}: the gallery is damaged (schema version {version})")
            check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                check = "; ".join(line.strip("* ") for line in str(check).splitlines() if line.strip("* "))
                raise GalleryError(f"{self.shown}: the gallery is damaged (integrity check: {printable(check)})")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, columns in TABLES.items():
                if TABLE_SINCE.get(table, 1) > version:
                    continue
                if table not in tables:
                    raise GalleryError(f"{self.shown}: the gallery is damaged (the {table} table is missing)")
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                missing = sorted(c for c in columns - have if COLUMN_SINCE.get((table, c), 1) <= version)
                if missing:
                    raise GalleryError(f"{self.shown}: the gallery is damaged (the {table} table has no "
                                       f"{', '.join(missing)} column)")
            for model_id, dimensions in db.execute("SELECT id, dimensions FROM models"):
                if (not isinstance(model_id, str) or not isinstance(dimensions, int)
                        or not 1 <= dimensions <= MAX_DIMENSIONS):
                    raise GalleryError(f"{self.shown}: the gallery is damaged (model {printable(model_id)!s} has "
                                       f"{printable(dimensions)}-d vectors)")
        except SQLITE_FAILURES as exc:
            raise self._error(exc, "open") from None

    def _identity(self) -> tuple[int, int] | None:
        """The file's (device, inode): tells whether it was replaced since it was opened."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _empty_in_memory(self) -> sqlite3.Connection:
        """A missing gallery read with ``readonly=True``: empty, and no file is created."""
        self.read_only_reason = "there is no gallery file yet (nothing is enrolled)"
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        BuildingFile(db).upgrade_schema(0)
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
            raise self.os_error(exc, "create the gallery") from None
        temporary = folder / f".{self.path.name}.{secrets.token_hex(8)}.new"
        try:
            build_file(temporary, self.shown, "create the gallery",
                       lambda db: self._first_rows(db, str(self.path)) if self._first_rows else None)
            try:
                os.link(temporary, self.path)
                self.created = True
                log.info("%s: new gallery created", self.shown)
            except FileExistsError:
                pass  # another process created it a moment ago: use theirs
            except OSError:  # a file system without hard links: the rename is atomic, the check before it not
                if not self.path.exists():
                    os.replace(temporary, self.path)
                    self.created = True
            sync_folder(folder)
        except OSError as exc:
            raise self.os_error(exc, "create the gallery") from None
        finally:
            remove_database_files(temporary)
        self._ensure_reserve()

    def replace_with(self, action: str, fill: Callable[[BuildingFile], None]) -> None:
        """Build a new file beside the gallery (``fill`` copies the rows into it) and rename it
        over the gallery, holding the write lock with the log empty throughout: a process
        killed at any moment leaves the old file or the new one, never a mix. Refused if
        other programs are using the gallery."""
        temporary = self.path.parent / f".{self.path.name}.{secrets.token_hex(8)}.{action}"
        with self._lock:
            try:
                self._hold_quiet_gallery()
                try:
                    self._remove_leftovers()
                    build_file(temporary, self.shown, f"{action} the gallery", fill)
                    os.replace(temporary, self.path)
                    sync_folder(self.path.parent)
                finally:
                    self._connection.execute("ROLLBACK")
            except OSError as exc:
                raise self.os_error(exc, f"{action} the gallery") from None
            except SQLITE_FAILURES as exc:
                raise self._error(exc, "write") from None
            finally:
                remove_database_files(temporary)
            self._connection.close()
            self._connection = self._writer()
            self._inode = self._identity()
            self._local_changes += 1

    def _hold_quiet_gallery(self) -> None:
        """Take the write lock with the log empty (nothing waiting to be copied into the file,
        so no log of the old file can be replayed onto the new one); refuse if others write."""
        for _ in range(3):
            busy = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            self._connection.execute("BEGIN IMMEDIATE")
            if not busy and not self._wal_size():
                return
            self._connection.execute("ROLLBACK")
        raise GalleryError(f"{self.shown}: another program has the gallery open and is using it; close it and try "
                           "again: nothing was changed")

    def _remove_leftovers(self) -> None:
        """Delete the copies a re-encryption killed midway left beside the gallery (a killed
        ``decrypt`` leaves a plain copy); only called with the write lock held, when none runs."""
        for action in REBUILDS:
            for leftover in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.{action}"):
                log.info("%s: removing %s, left by an interrupted %s", self.shown, leftover.name, action)
                remove_database_files(leftover)

    # -- errors ------------------------------------------------------------------------------------

    def os_error(self, exc: OSError, action: str) -> GalleryError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFullError(f"{self.shown}: disk full: cannot {action}")
        if exc.errno == errno.EROFS:
            return ReadOnlyGalleryError(f"{self.shown}: cannot {action}: read-only file system")
        return GalleryError(f"{self.shown}: cannot {action} ({exc.strerror or exc})")

    def _error(self, exc: sqlite3.Error, action: str) -> GalleryError:
        """The one-line message for an SQLite failure while opening, reading or writing."""
        name = _error_name(exc)
        nothing = ": nothing was changed" if action == "write" else ""
        if name.startswith("SQLITE_FULL") or (name.startswith("SQLITE_IOERR") and _disk_has_no_room(self.path)):
            verb = {"open": "cannot open the gallery", "read": "cannot read the gallery"}.get(action, "")
            return DiskFullError(f"{self.shown}: disk full" + (f": {verb}" if verb else "")
                                 + nothing + " (free some space and try again)")
        if name.startswith("SQLITE_READONLY"):
            return ReadOnlyGalleryError(f"{self.shown}: cannot change the gallery: it is read-only ({exc}){nothing}")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return GalleryError(f"{self.shown}: the gallery is busy (another program has been writing to it for "
                                f"30 s){nothing}")
        if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            return GalleryError(f"{self.shown}: cannot {action} the gallery ({exc}){nothing}")
        if name.startswith("SQLITE_NOTADB"):
            return GalleryError(f"{self.shown}: the gallery is damaged or not an SQLite database ({exc})")
        return GalleryError(f"{self.shown}: the gallery is damaged ({printable(exc)}){nothing}")

    # -- the port ------------------------------------------------------------------------------------

    def require_writable(self) -> None:
        if self.read_only_reason is not None:
            raise ReadOnlyGalleryError(f"{self.shown}: cannot change the gallery: {self.read_only_reason}")

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._connection.execute(sql, params).fetchall()
            except SQLITE_FAILURES as exc:
                if self._writing:
                    raise  # the transaction reports it, saying nothing was changed
                raise self._error(exc, "read") from None

    def schema_version(self) -> int:
        with self._lock:
            try:
                return super().schema_version()
            except SQLITE_FAILURES as exc:
                raise self._error(exc, "read") from None

    def has_table(self, table: str) -> bool:
        """False for a table an older file does not have yet (it gets it with its first write)."""
        since = TABLE_SINCE.get(table, 1)
        return since <= 1 or self.schema_version() >= since

    @contextmanager
    def transaction(self, counts: bool = True):
        self.require_writable()
        with self._lock:
            db = self._connection
            if self._inode is not None and self._identity() != self._inode:
                raise GalleryError(f"{self.shown}: the gallery file was replaced since it was opened (encrypted, "
                                   "decrypted or rekeyed by another program): open it again; nothing was changed")
            try:
                if not self._wal_checked:  # an old file in rollback mode: switch now, not on opening
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode = WAL")
                    self._wal_checked = True
                db.execute("BEGIN IMMEDIATE")
            except SQLITE_FAILURES as exc:
                raise self._error(exc, "write") from None
            try:
                if not self._leftovers_checked:  # holding the write lock: no re-encryption is under way
                    self._leftovers_checked = True
                    self._remove_leftovers()
                self._writing = True
                try:
                    yield
                finally:
                    self._writing = False
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    try:
                        db.execute("ROLLBACK")
                    except SQLITE_FAILURES:
                        pass
                if isinstance(exc, SQLITE_FAILURES):
                    raise self._error(exc, "write") from None
                raise
            self._local_changes += counts
        if not self._reserve_checked:
            self._reserve_checked = True
            self._ensure_reserve()

    @contextmanager
    def snapshot(self):
        """The reads inside see one moment of the file (a read transaction), unless in a write."""
        with self._lock:
            db = self._connection
            if db.in_transaction:
                yield
                return
            db.execute("BEGIN")
            try:
                yield
            finally:
                db.execute("ROLLBACK")

    def catch_up_mark(self, since: int | None = None) -> int | None:
        return None  # a local file is read whole (0.5 s at 100k samples)

    @property
    def revision(self) -> tuple[int, int]:
        """Changes whenever this or any other connection commits: the matcher's cache key."""
        return self.execute("PRAGMA data_version")[0][0], self._local_changes

    def deleting(self, delete: Callable[[], T]) -> T:
        """Run a deletion; on a full disk give up the reserve and try once more; then scrub the log."""
        try:
            result = delete()
        except DiskFullError:
            if not self._release_reserve():
                raise
            result = delete()
        self._scrub_log()
        self._ensure_reserve()
        return result

    def _scrub_log(self) -> None:
        """Copy the log into the file and truncate it: deleted pages must not linger there."""
        try:
            with self._lock:
                busy, _, _ = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except SQLITE_FAILURES as exc:
            log.warning("%s: the log could not be scrubbed now (%s); it is when the gallery is next closed",
                        self.shown, exc)
            return
        if busy:
            log.warning("%s: another program holds the gallery open; the log is scrubbed when it closes", self.shown)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- the reserve: room for a deletion on a full disk -----------------------------------------

    def _reserve_path(self) -> Path:
        return self.path.with_name(f".{self.path.name}.reserve")

    def _ensure_reserve(self) -> None:
        """Keep ``RESERVE_BYTES`` of zeros beside the gallery, best effort."""
        if self.read_only_reason is not None:
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
        log.warning("%s: the disk is full; using the space kept in reserve", self.shown)
        return True


def build_file(temporary: Path, shown: str, action: str, fill: Callable[[BuildingFile], None]) -> None:
    """A complete gallery file at ``temporary`` (private, 0600): the schema and
    (``fill(port)``) its rows, in one transaction, durable when this returns."""
    flags = (os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    os.close(os.open(temporary, flags, 0o600))
    try:
        db = sqlite3.connect(_uri(temporary, mode="rw"), uri=True, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA secure_delete = ON")
            db.execute("BEGIN IMMEDIATE")
            target = BuildingFile(db)
            target.upgrade_schema(0)
            target.set_schema_version(SCHEMA_VERSION)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            fill(target)
            db.execute("COMMIT")
            db.execute("PRAGMA journal_mode = WAL")
        finally:
            db.close()
    except SQLITE_FAILURES as exc:
        if _error_name(exc).startswith("SQLITE_FULL") or _disk_has_no_room(temporary):
            raise DiskFullError(f"{shown}: disk full: cannot {action}: nothing was changed") from None
        raise GalleryError(f"{shown}: cannot {action} ({exc}): nothing was changed") from None


def split_script(script: str) -> list[str]:
    """Split a script into statements, keeping a trigger's BEGIN ... END in one piece."""
    statements, pending = [], ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    return statements


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


def remove_database_files(path: Path) -> None:
    """Delete a temporary database and whatever SQLite left beside it."""
    for leftover in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{os.fsdecode(path)}{leftover}")
        except OSError:
            pass


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
