"""The small database port the gallery's repository runs on, and the two kinds of stored chip.

A backend (``core.storage.sqlite``, ``core.storage.postgres``) implements ``Database``: run a
statement, run many, hand out the id of a row about to be inserted, one atomic write
transaction, one consistent read snapshot, and its schema's version. Its ``sql`` holds every
statement the repository runs, written in that database's own dialect
(``core.storage.statements``); nothing rewrites SQL on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .sealing import Cell, cell
from .statements import Statements

T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """A kind of stored chip: its table, its vectors' table and the vectors' key column."""

    table: str
    vectors: str
    key: str

    def vector_cell(self, chip_id: int, model_id: str, person_id: int) -> Cell:
        """Where one of its vectors lives: the chip's row, the model, and the chip's owner."""
        return cell(self.vectors, "vector", f"{chip_id}\x1f{model_id}", person_id)


# What a port writes into a gallery it creates, in the creating transaction: ``first_rows(port, where)``.
FirstRows = Callable[["Database", str], None]

SAMPLES = Kind("samples", "embeddings", "sample_id")
NEGATIVES = Kind("negatives", "negative_embeddings", "negative_id")


class Database(Protocol):
    """What the repository needs of a database (see the module docstring)."""

    sql: Statements
    shown: str  # where it is, as messages show it
    read_only_reason: str | None  # why writes are refused, or None
    created: bool  # this process created the gallery when opening it (its first rows are the opener's)
    in_transit: str | None  # how data travels to it (None: a local file)

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """The rows of one statement: inside ``transaction`` on its connection, else one read
        (a database that cannot be read raises ``GalleryError``)."""

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        """One statement for each of ``rows``, inside ``transaction``."""

    def insert_id(self, table: str) -> int:
        """The id of the row about to be inserted into ``table`` (inside ``transaction``, whose
        lock makes it safe): values are sealed to their row before they are written."""

    def transaction(self, counts: bool = True) -> AbstractContextManager[None]:
        """One atomic write: everything in it commits, or (any exception) nothing does; its
        failures are one-line ``GalleryError``s saying nothing was changed. ``counts``: a change
        that moves ``revision`` (not a history entry or a "last seen")."""

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads that see one moment of the database."""

    def schema_version(self) -> int: ...
    def upgrade_schema(self, version: int) -> None:
        """The tables and columns added since ``version``, inside ``transaction``."""
    def set_schema_version(self, version: int) -> None: ...
    def has_table(self, table: str) -> bool:
        """False for a table an older gallery does not have yet (its first write adds it)."""
    def columns(self, table: str) -> list[str]:
        """A table's columns in their order (the database's own catalogue)."""
    def catch_up_mark(self, since: int | None = None) -> int | None:
        """A shared gallery's revision now, for a later catch-up; with ``since``, None when
        something other than new samples changed since that mark. A file: always None."""
    def append_only_lifted(self) -> AbstractContextManager[None]:
        """The history may be rewritten inside this (re-sealing it in a migration), in a transaction."""
    def deleting(self, delete: Callable[[], T]) -> T:
        """Run a deletion so it works even on a full disk, then clear what it leaves behind."""
    def require_writable(self) -> None: ...
    @property
    def revision(self) -> tuple[int, int]: ...
    def close(self) -> None: ...
