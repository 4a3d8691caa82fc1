"""The gallery as the rest of OneShot sees it: the ``GalleryStore`` protocol and the records it speaks in.

Callers (the service, the command line, the GUI, exports) hold a ``GalleryStore`` and never
learn where it keeps its rows: a local SQLite file or a PostgreSQL server behind one
repository (``core.storage.repository``). A new backend implements ``core.storage.port``,
not this protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .history import ChainBreak, HistoryEntry

ON_CONFLICT = ("fail", "skip", "merge")


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

    @classmethod
    def empty(cls, last_id: int = 0) -> GalleryVectors:
        return cls(names=[], owners=np.zeros(0, dtype=np.int64), matrix=np.zeros((0, 0), np.float32), last_id=last_id)

    def masked_rows(self) -> np.ndarray:
        """(N,) bool, False where ``masked`` says nothing."""
        return self.masked if self.masked is not None else np.zeros(len(self.owners), dtype=bool)

    def extended(self, added: GalleryVectors) -> GalleryVectors:
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


class GalleryStore(Protocol):
    """The data operations every gallery offers, wherever it keeps its rows."""

    shown: str  # where it is, as messages show it (a path, or a URL without its password)

    @property
    def read_only(self) -> bool: ...
    @property
    def revision(self) -> tuple[int, int]: ...
    @property
    def encrypted(self) -> bool: ...
    @property
    def protection(self) -> str: ...
    def require_writable(self) -> None: ...
    def close(self) -> None: ...

    # people
    def people(self) -> list[Person]: ...
    def damaged_people(self) -> list[DamagedEntry]: ...
    def person(self, name: str) -> Person: ...
    def check_name(self, name: str, enrolled: bool) -> str: ...
    def enroll(self, name: str, chip: np.ndarray, embedding: np.ndarray, model_id: str, quality: float, source: str,
               add_to_existing: bool = False, note: str = "", masked: bool = False,
               derived: dict[str, np.ndarray] | None = None) -> Person: ...
    def import_people(self, people: list[tuple[str, str, list[tuple]]], model_id: str,
                      on_conflict: str = "fail") -> ImportCounts: ...
    def rename(self, old: str, new: str) -> Person: ...
    def forget(self, name: str | None = None, *, person_id: int | None = None) -> int: ...

    # samples and negatives
    def person_samples(self, name: str, damaged: list[DamagedEntry] | None = None) -> list[SampleInfo]: ...
    def remove_sample(self, sample_id: int) -> Person | DamagedEntry: ...
    def sample_distances(self, name: str, model_id: str) -> dict[int, float]: ...
    def add_negative(self, name: str, chip, embedding: np.ndarray, model_id: str, source: str,
                     quality: float = 0.0) -> int: ...
    def negatives(self, name: str, damaged: list[DamagedEntry] | None = None) -> list[SampleInfo]: ...
    def remove_negative(self, negative_id: int) -> Person: ...
    def samples(self, damaged: list[DamagedEntry] | None = None) -> list[StoredSample]: ...
    def negative_samples(self, damaged: list[DamagedEntry] | None = None) -> list[StoredSample]: ...
    def thumbnails(self) -> dict[str, tuple[np.ndarray | None, int]]: ...

    # vectors
    def vectors(self, model_id: str) -> GalleryVectors: ...
    def negative_vectors(self, model_id: str) -> GalleryVectors: ...
    def appended_vectors(self, model_id: str, known: GalleryVectors) -> GalleryVectors | None: ...
    def sample_vectors(self, model_id: str) -> dict[int, np.ndarray]: ...
    def negative_sample_vectors(self, model_id: str) -> dict[int, np.ndarray]: ...
    def store_embeddings(self, model_id: str, vectors: dict[int, np.ndarray],
                         negatives: dict[int, np.ndarray] | None = None, complete: bool = False) -> None: ...
    def count_missing(self, model_id: str) -> int: ...
    def content_digest(self, history: bool = True) -> str: ...

    # history and retention
    def record(self, action: str, subject: str = "", detail: str = "") -> None: ...
    def history(self) -> tuple[list[HistoryEntry], ChainBreak | None]: ...
    def mark_seen(self, names: list[str]) -> None: ...
    def unseen_for(self, days: float) -> list[str]: ...
    def forget_unseen(self, days: float) -> list[str]: ...


Progress = Callable[[int, int], None]
