"""The gallery's logic: people, their samples, negatives and vectors, over any database port.

One class, ``Gallery``, implements ``core.storage.store.GalleryStore`` for every backend: it
speaks to a ``core.storage.port.Database`` (a SQLite file by default, ``PostgresGallery`` a
server) in that database's own statements, and seals every identifying value on the way in
(``core.storage.sealing``): bound to its table, column, row and owner, so a value moved or
swapped behind the gallery's back fails to open instead of naming the wrong person. A value
that fails costs its row (``people`` lists it as a damaged entry), never the gallery.

A sample keeps its aligned chip, so a new embedder can re-embed everyone without a new
enrolment; embeddings are stored per model, so switching back to an older model needs no
work. Negatives ("that is not X") are stored exactly like samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np

from . import history as _history
from .history import HistoryBook
from .chips import checked_vector, decode_chip, encode_chip, pixel_digest
from .. import clock
from ..errors import DuplicateNameError, GalleryError, InputError, UnknownPersonError
from .names import clean_name, name_key, printable, unescape_name
from .port import NEGATIVES, SAMPLES, Database, FirstRows, Kind
from .schema import ANCHORED_SINCE, BOUND_SINCE, SCHEMA_VERSION, TABLES
from .sealing import (Damaged, PassphraseSource, PlainFields, Protection, asked_once, cell, forget_stored_key,
                      new_protection, read_protection, unlock, write_protection)
from .store import ON_CONFLICT, DamagedEntry, GalleryVectors, ImportCounts, Person, Progress, SampleInfo, StoredSample

_CLEAR = PlainFields()  # columns that are never sealed: dates, a history entry's user and action


def _text(value, what: str) -> str:
    return _CLEAR.text(value, None, what)


class Gallery:
    """One open gallery (see the module docstring). Safe to share between threads (calls are serialised).

    ``Gallery(path)`` opens (or creates) a SQLite file, as ``core.storage.sqlite`` describes;
    ``readonly=True`` only ever reads it. ``passphrase``: the text, or a function asked only if
    the gallery is protected by one. ``protection``: how a gallery created now is encrypted:
    "key" (a random key in the system keyring or a key file: no prompt, the default),
    "passphrase" or "none".
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False, passphrase: PassphraseSource = None,
                 protection: str = "key", database: Callable[[FirstRows], Database] | None = None) -> None:
        """``database``: opens the port the gallery lives on (given what to write first into a
        gallery it creates); None: the SQLite file at ``path``."""
        self._passphrase = asked_once(passphrase)
        self._new_protection = protection
        self._lock = threading.RLock()
        self._created: tuple[Protection | None, PlainFields] | None = None
        if database is None:
            from .sqlite import SqliteDatabase, default_gallery_path

            self.path = Path(path) if path is not None else default_gallery_path()
            database = partial(SqliteDatabase, self.path, readonly=readonly)
        try:
            self._db = database(first_rows=self._first_rows)
        except BaseException:
            if self._created is not None:  # made a key for a gallery that was never created
                forget_stored_key(self._created[0])
            raise
        self.shown = self._db.shown
        try:
            self._fields, self._protection = self._unlock()
        except BaseException:
            self._db.close()
            raise

    # -- opening and protection ---------------------------------------------------------------

    def _first_rows(self, db: Database, where: str) -> None:
        """The protection row of a gallery being created at ``where`` (in its creating transaction)."""
        protection, fields = new_protection(self._new_protection, self._passphrase, db.shown, where)
        self._created = (protection, fields)
        write_protection(db, protection)
        HistoryBook(db, fields).anchor_as_is()  # so a missing anchor shows

    def _unlock(self) -> tuple[PlainFields, Protection | None]:
        """Find the key of an encrypted gallery (or learn it is plain); reads only."""
        try:
            protection = read_protection(self._db)
        except Damaged as exc:
            raise self._damaged(str(exc)) from None
        if self._created is not None:
            created, fields = self._created
            ours = created is None and protection is None or (
                created is not None and protection is not None and created.wrapped_key == protection.wrapped_key)
            if self._db.created and ours:
                fields.legacy = False
                return fields, protection
            forget_stored_key(created)  # another station created the gallery first: theirs is used
            self._created = None
        try:
            fields = unlock(protection, self._passphrase, self.shown)
        except Damaged as exc:
            raise self._damaged(str(exc)) from None
        fields.legacy = self._db.schema_version() < BOUND_SINCE
        return fields, protection

    @property
    def read_only(self) -> bool:
        """True when writes are refused (opened for reading, or the file cannot be written)."""
        return self._db.read_only_reason is not None

    def require_writable(self) -> None:
        """Raise ``ReadOnlyGalleryError`` now, before slow work, if a write would be refused."""
        self._db.require_writable()

    @property
    def revision(self) -> tuple[int, int]:
        """Changes whenever this or any other connection commits: the matcher's cache key."""
        return self._db.revision

    @property
    def in_transit(self) -> str | None:
        """How data travels to a shared gallery's server (None: a local file, nothing travels)."""
        return self._db.in_transit

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

    @property
    def fields(self) -> PlainFields:
        """How values are sealed (for ``core.storage.copy`` and ``core.storage.protection``)."""
        return self._fields

    @property
    def database(self) -> Database:
        return self._db

    def protected_as(self, protection: Protection | None, fields: PlainFields) -> Protection | None:
        """The gallery is now under ``protection`` (after ``core.storage.protection.reprotect``);
        returns the protection it had."""
        old, (self._protection, self._fields) = self._protection, (protection, fields)
        return old

    def reprotect(self, mode: str, passphrase: PassphraseSource = None,
                  progress: Progress | None = None) -> tuple[str, str | None]:
        """Encrypt, decrypt or rekey the gallery: see ``core.storage.protection``."""
        from .protection import reprotect

        with self._lock:
            return reprotect(self, mode, passphrase, progress)

    def forget_key(self) -> None:
        """Delete this gallery's key from the keyring or key folder: the file can never be read
        again. For throwaway galleries (the self-test); a passphrase has nothing to delete."""
        forget_stored_key(self._protection)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading and writing -------------------------------------------------------------------

    @contextmanager
    def _write(self, counts: bool = True):
        """One atomic write transaction (see the port); an older schema is upgraded inside it
        first, so a failed write leaves the gallery as it was. ``counts``: a change the matcher
        cares about (not a history entry or a "last seen")."""
        self.require_writable()
        with self._lock, self._db.transaction(counts):
            version = self._db.schema_version()
            if version < SCHEMA_VERSION:
                self._upgrade(version)
            yield self._db

    def _upgrade(self, version: int) -> None:
        """Bring an older gallery to the current schema, in the caller's transaction."""
        self._db.upgrade_schema(version)
        if version < ANCHORED_SINCE:
            self._book().anchor_as_is()
        if version < BOUND_SINCE and self._fields.encrypted:
            from .copy import reseal_in_place

            reseal_in_place(self)
        self._db.set_schema_version(SCHEMA_VERSION)
        self._fields.legacy = False

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params)

    def _damaged(self, reason: str) -> GalleryError:
        return GalleryError(f"{self.shown}: the gallery is damaged ({reason})")

    def _book(self, db: Database | None = None, fields: PlainFields | None = None) -> HistoryBook:
        return HistoryBook(db or self._db, fields or self._fields)

    def _has_table(self, table: str) -> bool:
        return self._db.has_table(table)

    # -- people --------------------------------------------------------------------------------

    def _opened_name(self, person_id: int, value) -> str | None:
        """A person's stored name, or None where it fails to open (their rows are skipped)."""
        try:
            return self._name(person_id, value)
        except GalleryError:
            return None

    def _name(self, person_id: int, value) -> str:
        """A person's stored name, opened; a damaged one is reported, never guessed at."""
        if not isinstance(value, (str, bytes)):
            raise self._damaged(f"a person's name is {type(value).__name__}, not text")
        try:
            return self._fields.text(value, cell("people", "name", person_id, person_id), "a person's name")
        except Damaged as exc:
            raise self._damaged(f"{exc} in person #{person_id}; `oneshot forget --id {person_id}` removes it") \
                from None

    def _opened_person(self, row: tuple) -> Person:
        """A ``people`` row (name, samples, created, note, id) opened; ``Damaged`` when its name or note fails."""
        stored, count, created, note, person_id = row
        if not isinstance(stored, (str, bytes)):
            raise Damaged(f"a person's name is {type(stored).__name__}, not text")
        name = self._fields.text(stored, cell("people", "name", person_id, person_id), "a person's name")
        try:
            return Person(name, count, _text(created, "a creation date"),
                          self._fields.text(note, cell("people", "note", person_id, person_id), "a note"))
        except Damaged as exc:
            raise Damaged(f"{exc} for {printable(name)}") from None

    def people(self) -> list[Person]:
        """The intact people by name. A row whose name or note fails to open is left out, not
        fatal: ``damaged_people`` lists those, so one flipped bit cannot hide everyone."""
        return self._people()[0]

    def damaged_people(self) -> list[DamagedEntry]:
        """The people rows whose name or note fails to open, by id (what ``forget(person_id=)`` takes)."""
        return self._people()[1]

    def _people(self) -> tuple[list[Person], list[DamagedEntry]]:
        people, damaged = [], []
        for row in self._read(self._db.sql.people):
            try:
                people.append(self._opened_person(row))
            except Damaged as exc:
                damaged.append(DamagedEntry(row[4], row[1], str(exc)))
        return sorted(people, key=lambda person: name_key(person.name)), damaged

    def person(self, name: str) -> Person:
        """One person by name (case-insensitive), looked up by its key, not by listing everyone."""
        with self._lock:
            person_id = self._person_id(name, lenient=True)
        if person_id is None:
            raise UnknownPersonError(name)
        return self._person_by_id(person_id)

    def _person_by_id(self, person_id: int) -> Person:
        row = self._people_row(person_id)
        try:
            return self._opened_person(row)
        except Damaged as exc:
            raise self._damaged(f"{exc} in person #{person_id}; `oneshot forget --id {person_id}` removes it") \
                from None

    def _people_row(self, person_id: int) -> tuple:
        return self._read(self._db.sql.person, (person_id,))[0]

    def check_name(self, name: str, enrolled: bool) -> str:
        """Raise unless ``name`` is valid and (``enrolled``) known or (not) free; return it cleaned.

        Lets callers refuse a bad name before any slow work; ``enroll`` checks again.
        """
        self.require_writable()
        name = clean_name(name)
        with self._lock:
            known = self._person_id(name) is not None
        if enrolled and not known:
            raise UnknownPersonError(name)
        if known and not enrolled:
            raise DuplicateNameError(name)
        return name

    def _person_id(self, name: str, lenient: bool = False) -> int | None:
        """The id of the person called ``name``: by key, then (``lenient``, for a name a user
        typed to change or delete someone) as stored exactly, or written as ``printable`` shows it.

        A key found is confirmed by the name it belongs to: a lookup key moved to another row
        behind the gallery's back is damage, never a way to reach someone else (a strict
        lookup refuses; a lenient one finds the person by their name instead)."""
        wanted = name_key(name)
        rows = self._db.execute(self._db.sql.person_by_key, (self._fields.key(wanted),))
        if rows:
            person_id, stored = rows[0]
            opened = self._opened_name(person_id, stored)
            if opened is not None and name_key(opened) == wanted:
                return person_id
            if not lenient:  # a typed name still finds its person by the names themselves, below
                raise self._damaged(f"the lookup key of person #{person_id} is not their name's; "
                                    f"`oneshot forget --id {person_id}` removes it")
        elif not lenient:
            return None
        unescaped = unescape_name(str(name))
        candidates = {str(name), unescaped} - {None}
        keys = {name_key(c) for c in candidates}
        # a file written by another tool may hold a key that is not its name's: compare names
        for person_id, stored in self._db.execute(self._db.sql.names):
            opened = self._opened_name(person_id, stored)
            if opened is not None and (opened in candidates or name_key(opened) in keys):
                return person_id
        return None

    def _stored_name(self, person_id: int) -> str:
        return self._name(person_id, self._db.execute(self._db.sql.name_of, (person_id,))[0][0])

    def _subject(self, person_id: int) -> str:
        """Whom a deletion is about in the history: the name, or the entry when it fails to open
        (deleting must work on exactly those rows)."""
        try:
            return self._stored_name(person_id)
        except GalleryError:
            return f"damaged entry #{person_id}"

    def enroll(self, name: str, chip: np.ndarray, embedding: np.ndarray, model_id: str, quality: float, source: str,
               add_to_existing: bool = False, note: str = "", masked: bool = False,
               derived: dict[str, np.ndarray] | None = None) -> Person:
        """Store one sample: a new person, or (``add_to_existing``) one more of a known person;
        ``masked``: the sample shows them masked; ``derived``: more vectors of the sample, by the
        (derived) model id they belong to (its masked copies' descriptor, ``core.vision.masks``)."""
        name = clean_name(name)
        with self._write():
            person_id = self._person_id(name)
            if person_id is None and add_to_existing:
                raise UnknownPersonError(name)
            if person_id is not None and not add_to_existing:
                raise DuplicateNameError(name)
            if person_id is None:
                person_id = self._insert_person(name, note)
            sample_id = self._insert_chip(SAMPLES, person_id, chip, embedding, model_id, quality, source, masked)
            for derived_id, vector in (derived or {}).items():
                self._insert_vector(SAMPLES, person_id, sample_id, derived_id, vector)
            self._book().record("add sample" if add_to_existing else "enrol", name,
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
        with self._write():
            for name, note, samples in people:
                name = clean_name(name)
                person_id = self._person_id(name)
                if person_id is None:
                    person_id = self._insert_person(name, note)
                    added += 1
                    for chip, embedding, quality, source, *masked in samples:
                        self._insert_chip(SAMPLES, person_id, chip, embedding, model_id, quality, source,
                                          bool(masked and masked[0]))
                        stored += 1
                    continue
                if on_conflict == "fail":
                    raise DuplicateNameError(name)
                shown = self._stored_name(person_id)
                if on_conflict == "skip":
                    skipped.append(shown)
                    continue
                have = self._chip_digests(person_id)
                count = 0
                for chip, embedding, quality, source, *masked in samples:
                    key = pixel_digest(chip)
                    if key in have:
                        duplicates += 1
                        continue
                    have.add(key)
                    self._insert_chip(SAMPLES, person_id, chip, embedding, model_id, quality, source,
                                      bool(masked and masked[0]))
                    count += 1
                stored += count
                merged.append((shown, count))
            self._book().record("import", "", f"{added} people added, {stored} samples stored, {len(skipped)} "
                                              f"skipped, {len(merged)} merged (model {model_id})")
        return ImportCounts(added, stored, tuple(skipped), tuple(merged), duplicates)

    def _chip_digests(self, person_id: int) -> set[bytes]:
        """The pixel digests of a person's stored chips (a damaged chip counts as none)."""
        digests = set()
        for sample_id, png in self._db.execute(self._db.sql.chips_of[SAMPLES.table], (person_id,)):
            try:
                png = self._fields.blob(png, cell("samples", "chip", sample_id, person_id), "a chip")
                if isinstance(png, bytes):
                    digests.add(pixel_digest(png))
            except (GalleryError, Damaged):
                pass
        return digests

    def _insert_person(self, name: str, note: str) -> int:
        person_id = self._db.insert_id("people")
        self._db.execute(self._db.sql.insert_person, (
            person_id, self._fields.seal(name, cell("people", "name", person_id, person_id)),
            self._fields.key(name_key(name)), clock.stamp(),
            self._fields.seal(str(note), cell("people", "note", person_id, person_id))))
        return person_id

    def _insert_chip(self, kind: Kind, person_id: int, chip, embedding: np.ndarray, model_id: str, quality: float,
                     source: str, masked: bool = False) -> int:
        """One sample or negative (``kind``) with its vector; returns its id."""
        table = kind.table
        vector = checked_vector(embedding)  # refused before anything is written
        png = bytes(chip) if isinstance(chip, (bytes, bytearray, memoryview)) else encode_chip(chip)
        chip_id = self._db.insert_id(table)
        values = (chip_id, person_id, self._fields.seal(png, cell(table, "chip", chip_id, person_id)), float(quality),
                  self._fields.seal(str(source), cell(table, "source", chip_id, person_id)), clock.stamp())
        if masked:  # only samples have the column; a plain sample leaves it at its default
            self._db.execute(self._db.sql.insert_masked_sample, values)
        else:
            self._db.execute(self._db.sql.insert_chip[table], values)
        self._insert_vector(kind, person_id, chip_id, model_id, vector)
        return chip_id

    def _insert_vector(self, kind: Kind, person_id: int, chip_id: int, model_id: str, embedding: np.ndarray) -> None:
        """One vector of a stored sample or negative, its model registered with its length."""
        vector = checked_vector(embedding)
        self._register_model(model_id, len(vector))
        self._db.execute(self._db.sql.insert_vector[kind.vectors], (
            chip_id, model_id, self._fields.seal(vector.tobytes(), kind.vector_cell(chip_id, model_id, person_id))))

    def _register_model(self, model_id: str, dimensions: int) -> None:
        rows = self._db.execute(self._db.sql.dimensions, (model_id,))
        if not rows:
            self._db.execute(self._db.sql.insert_model, (model_id, dimensions, clock.stamp()))
        elif rows[0][0] != dimensions:
            raise GalleryError(f"model {printable(model_id)!r} has {rows[0][0]}-d vectors in this gallery, "
                               f"not {dimensions}-d")

    def rename(self, old: str, new: str) -> Person:
        new = clean_name(new)
        with self._write():
            person_id = self._person_id(old, lenient=True)
            if person_id is None:
                raise UnknownPersonError(old)
            other = self._person_id(new)
            if other is not None and other != person_id:
                raise DuplicateNameError(new)
            was = self._stored_name(person_id)
            self._db.execute(self._db.sql.rename, (self._fields.seal(new, cell("people", "name", person_id, person_id)),
                                                   self._fields.key(name_key(new)), person_id))
            self._book().record("rename", new, f"was {was}")
        return self.person(new)

    def forget(self, name: str | None = None, *, person_id: int | None = None) -> int:
        """Delete a person (by ``name``, or by ``person_id``: the one way to reach a row whose
        name fails to open), every sample and every negative, irrecoverably; return how many
        samples went. Deleting someone must always be possible: see the port's ``deleting``."""
        return self._db.deleting(partial(self._forget, name, "", person_id))

    def _forget(self, name: str | None, why: str = "", person_id: int | None = None) -> int:
        with self._write():
            if person_id is None:
                person_id = self._person_id(name, lenient=True)
                if person_id is None:
                    raise UnknownPersonError(name)
            elif not self._db.execute(self._db.sql.person_exists, (person_id,)):
                raise InputError(f"there is no person #{person_id} in the gallery")
            count = self._db.execute(self._db.sql.sample_count, (person_id,))[0][0]
            self._book().record("forget", self._subject(person_id), f"{count} samples deleted{why}")
            for statement in self._db.sql.forget_person:  # the cascade would do it; said so nothing depends on it
                self._db.execute(statement, (person_id,))
        return count

    # -- one person's samples and negatives ---------------------------------------------------

    def _owner(self, name: str) -> int:
        with self._lock:
            person_id = self._person_id(name, lenient=True)
        if person_id is None:
            raise UnknownPersonError(name)
        return person_id

    def _chip_infos(self, kind: Kind, person_id: int, what: str,
                    damaged: list[DamagedEntry] | None) -> list[SampleInfo]:
        table = kind.table
        if not self._has_table(table):
            return []
        infos = []
        for chip_id, png, source, created, quality in self._read(self._db.sql.chip_infos[table], (person_id,)):
            try:
                if not isinstance(quality, (int, float)):
                    raise Damaged(f"{what} {chip_id} is not in the shape the schema promises")
                png = self._fields.blob(png, cell(table, "chip", chip_id, person_id), f"the chip of {what} {chip_id}")
                chip = decode_chip(png, what=f"the chip of {what} {chip_id}")
                infos.append(SampleInfo(chip_id, chip, self._fields.text(source, cell(table, "source", chip_id,
                                                                                       person_id), "a source"),
                                        _text(created, "a date"), float(quality)))
            except (GalleryError, Damaged) as exc:  # GalleryError: a chip that does not decode
                if damaged is None:
                    raise (self._damaged(f"{exc} in {what} {chip_id}") if isinstance(exc, Damaged)
                           else GalleryError(f"{self.shown}: {exc}")) from None
                damaged.append(DamagedEntry(chip_id, 1, str(exc)))
        return infos

    def person_samples(self, name: str, damaged: list[DamagedEntry] | None = None) -> list[SampleInfo]:
        """Every sample of one person, oldest first, with its chip: the person view. With a
        ``damaged`` list, a sample that fails to open or decode goes there (its id is what
        ``remove_sample`` takes) instead of refusing the whole read."""
        return self._chip_infos(SAMPLES, self._owner(name), "sample", damaged)

    def remove_sample(self, sample_id: int) -> Person | DamagedEntry:
        """Delete one sample and its vectors, irrecoverably, whatever in it fails to open; return
        its person as they are now (a ``DamagedEntry`` where their name or note fails to open).

        A person's last sample is refused: forget the person instead (a person without a
        face would match nothing and hide behind a name).
        """
        sample_id = int(sample_id)
        return self._db.deleting(partial(self._remove_sample, sample_id))

    def _remove_sample(self, sample_id: int) -> Person | DamagedEntry:
        with self._write():
            rows = self._db.execute(self._db.sql.owner_of[SAMPLES.table], (sample_id,))
            if not rows:
                raise InputError(f"there is no sample {sample_id} in the gallery")
            person_id = rows[0][0]
            name = self._subject(person_id)
            if self._db.execute(self._db.sql.sample_count, (person_id,))[0][0] <= 1:
                raise InputError(f"sample {sample_id} is the last sample of {printable(name)}: "
                                 f"forget {printable(name)} instead")
            for statement in self._db.sql.remove_chip[SAMPLES.table]:
                self._db.execute(statement, (sample_id,))
            self._book().record("remove sample", name, f"sample {sample_id}")
        row = self._people_row(person_id)
        try:
            return self._opened_person(row)
        except Damaged as exc:
            return DamagedEntry(person_id, row[1], str(exc))

    def sample_distances(self, name: str, model_id: str) -> dict[int, float]:
        """sample id -> its smallest squared distance to the person's other samples (``model_id``
        vectors; inf for a sample alone). A sample with no vector of that model is left out."""
        person_id = self._owner(name)
        rows = [(sample_id, vector) for sample_id, blob in
                self._read(self._db.sql.person_vectors, (model_id, person_id))
                if (vector := self._opened_vector(SAMPLES, blob, sample_id, model_id, person_id)) is not None]
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
        with self._write():
            person_id = self._person_id(name, lenient=True)
            if person_id is None:
                raise UnknownPersonError(name)
            negative_id = self._insert_chip(NEGATIVES, person_id, chip, embedding, model_id, quality, source)
            self._book().record("add negative", self._stored_name(person_id), f"negative {negative_id} from {source}")
            return negative_id

    def negatives(self, name: str, damaged: list[DamagedEntry] | None = None) -> list[SampleInfo]:
        """Every negative of one person ("that is not them"), oldest first, with its chip;
        ``damaged`` as for ``person_samples``."""
        return self._chip_infos(NEGATIVES, self._owner(name), "negative", damaged)

    def remove_negative(self, negative_id: int) -> Person:
        """Delete one negative and its vectors, irrecoverably; return its person."""
        negative_id = int(negative_id)
        return self._db.deleting(partial(self._remove_negative, negative_id))

    def _remove_negative(self, negative_id: int) -> Person:
        with self._write():
            rows = self._db.execute(self._db.sql.owner_of[NEGATIVES.table], (negative_id,))
            if not rows:
                raise InputError(f"there is no negative {negative_id} in the gallery")
            for statement in self._db.sql.remove_chip[NEGATIVES.table]:
                self._db.execute(statement, (negative_id,))
            self._book().record("remove negative", self._stored_name(rows[0][0]), f"negative {negative_id}")
        return self._person_by_id(rows[0][0])

    # -- vectors and samples -------------------------------------------------------------------

    def _dimensions(self, model_id: str) -> int | None:
        rows = self._read(self._db.sql.dimensions, (model_id,))
        return rows[0][0] if rows else None

    def _opened_vector(self, kind: Kind, blob, chip_id: int, model_id: str, person_id: int):
        """A stored vector's bytes, or None where it fails to open (its row is skipped, not fatal);
        a plain gallery's as stored, for ``_check_vectors`` to judge."""
        if not self._fields.encrypted:
            return blob
        try:
            return self._fields.blob(blob, kind.vector_cell(chip_id, model_id, person_id), "a stored vector")
        except Damaged:
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
        """Every sample vector of ``model_id``, grouped by person (``read_at``: the mark a shared
        gallery's catch-up starts from)."""
        with self._lock, self._db.snapshot():
            mark = self._db.catch_up_mark()
            vectors = self._grouped_vectors(SAMPLES, model_id)
        return dataclasses.replace(vectors, read_at=mark)

    def negative_vectors(self, model_id: str) -> GalleryVectors:
        """Every negative's vector of ``model_id``, grouped by person (``names``: whose negatives)."""
        return self._grouped_vectors(NEGATIVES, model_id)

    def appended_vectors(self, model_id: str, known: GalleryVectors) -> GalleryVectors | None:
        """``known`` with the sample vectors stored since it was read, or None when the gallery
        changed otherwise (a rename, a forget, a re-embed...) and only a full read is right.

        A local file has no catch-up mark and is read whole (0.5 s at 100k samples); a shared
        gallery answers from its server's change marks, so a station catches up with another
        one's enrolment without reading every vector again.
        """
        if known.read_at is None:
            return None
        with self._lock, self._db.snapshot():
            mark = self._db.catch_up_mark(since=known.read_at)
            if mark is None:
                return None
            added = self._grouped_vectors(SAMPLES, model_id, after=known.last_id)
            total = self._db.execute(self._db.sql.vector_count, (model_id,))[0][0]
        if total != len(known.matrix) + known.skipped + len(added.matrix) + added.skipped:
            return None  # vectors were added to older samples (a re-embedding elsewhere): read everything
        return known.extended(dataclasses.replace(added, read_at=mark))

    def _grouped_vectors(self, kind: Kind, model_id: str, after: int = 0) -> GalleryVectors:
        if not self._has_table(kind.table):
            return GalleryVectors.empty(after)
        dimensions = self._dimensions(model_id)
        rows = self._read(self._db.sql.grouped_vectors[kind.table], (model_id, after))
        names: list[str] = []  # the people with at least one vector that opens
        kept, owners, row_names, blobs = [], [], [], []
        last_person, opened, listed = None, None, None
        for row in rows:
            person_id, name, blob, chip_id = row[:4]
            if person_id != last_person:
                last_person, opened = person_id, self._opened_name(person_id, name)
            vector = self._opened_vector(kind, blob, chip_id, model_id, person_id)
            if opened is None or vector is None:
                continue
            if listed != person_id:
                listed = person_id
                names.append(opened)
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

    def samples(self, damaged: list[DamagedEntry] | None = None) -> list[StoredSample]:
        """Every sample with its chip, for re-embedding and export. With a ``damaged`` list, a
        sample whose chip, source or person's name fails to open or decode goes there instead
        of refusing the whole read (what lets ``reembed`` rebuild the rest)."""
        return self._stored(SAMPLES, "sample", damaged)

    def negative_samples(self, damaged: list[DamagedEntry] | None = None) -> list[StoredSample]:
        """Every negative with its chip (``name``: whom it is not), for re-embedding; ``damaged``
        as for ``samples``."""
        return self._stored(NEGATIVES, "negative", damaged)

    def _stored(self, kind: Kind, what: str, damaged: list[DamagedEntry] | None) -> list[StoredSample]:
        if not self._has_table(kind.table):
            return []
        samples = []
        for row in self._read(self._db.sql.stored[kind.table]):
            try:
                samples.append(self._stored_sample(kind.table, what, row))
            except (Damaged, GalleryError) as exc:  # GalleryError: a chip that does not decode
                if damaged is None:
                    raise (self._damaged(str(exc)) if isinstance(exc, Damaged)
                           else GalleryError(f"{self.shown}: {exc}")) from None
                damaged.append(DamagedEntry(row[0], 1, str(exc)))
        return samples

    def _stored_sample(self, table: str, what: str, row: tuple) -> StoredSample:
        sample_id, person_id, name, png, quality, source, created, is_masked = row
        if not isinstance(name, (str, bytes)) or not isinstance(quality, (int, float)):
            raise Damaged(f"{what} {sample_id} is not in the shape the schema promises")
        opened = self._opened_name(person_id, name)
        if opened is None:
            raise Damaged(f"{what} {sample_id} belongs to damaged entry #{person_id}")
        png = self._fields.blob(png, cell(table, "chip", sample_id, person_id), f"the chip of {what} {sample_id}")
        chip = decode_chip(png, what=f"the chip of {what} {sample_id} ({printable(opened)})")
        return StoredSample(sample_id, opened, chip, float(quality),
                            self._fields.text(source, cell(table, "source", sample_id, person_id),
                                              f"the source of {what} {sample_id}"),
                            _text(created, "a date"), bool(is_masked))

    def thumbnails(self) -> dict[str, tuple[np.ndarray | None, int]]:
        """name -> (first sample's chip, sample count), by name: the gallery manager's icons.

        One query, so a gallery of many people opens without one round trip per person. The
        chip is None for a person without samples (an import can create one) or whose first
        chip fails to open; a person whose name fails is left out (``damaged_people`` lists them).
        """
        thumbnails = {}
        for person_id, stored, count, first_id, png in self._read(self._db.sql.thumbnails):
            name = self._opened_name(person_id, stored)
            if name is None:
                continue
            try:
                png = self._fields.blob(png, cell("samples", "chip", first_id, person_id), "a chip")
                chip = decode_chip(png) if png is not None else None
            except (GalleryError, Damaged):  # a damaged first chip: no icon (``samples NAME`` names it)
                chip = None
            thumbnails[name] = (chip, count)
        return dict(sorted(thumbnails.items(), key=lambda item: name_key(item[0])))

    def sample_vectors(self, model_id: str) -> dict[int, np.ndarray]:
        """sample id -> its ``model_id`` vector; one that fails to open is left out, as if missing
        (so re-embedding the missing ones replaces it)."""
        return self._vectors_by_id(SAMPLES, model_id, "sample")

    def negative_sample_vectors(self, model_id: str) -> dict[int, np.ndarray]:
        """negative id -> its ``model_id`` vector."""
        return self._vectors_by_id(NEGATIVES, model_id, "negative")

    def _vectors_by_id(self, kind: Kind, model_id: str, what: str) -> dict[int, np.ndarray]:
        if not self._has_table(kind.table):
            return {}
        dimensions = self._dimensions(model_id)
        rows = [(chip_id, vector) for chip_id, person_id, blob in
                self._read(self._db.sql.vectors_by_id[kind.table], (model_id,))
                if (vector := self._opened_vector(kind, blob, chip_id, model_id, person_id)) is not None]
        matrix = self._check_vectors([row[1] for row in rows], dimensions, [f"{what} {row[0]}" for row in rows])
        return {chip_id: matrix[index] for index, (chip_id, _) in enumerate(rows)}

    def store_embeddings(self, model_id: str, vectors: dict[int, np.ndarray],
                         negatives: dict[int, np.ndarray] | None = None, complete: bool = False) -> None:
        """Add or replace the ``model_id`` vectors of existing samples (and of existing
        negatives: ``negatives``), in one transaction. ``complete``: these are the vectors of
        every chip, so the model's others and its registered length go first: how vectors that
        disagree with the model (a wrong length) are replaced rather than refused."""
        checked = {SAMPLES: {int(i): checked_vector(v) for i, v in vectors.items()},
                   NEGATIVES: {int(i): checked_vector(v) for i, v in (negatives or {}).items()}}
        with self._write():
            if complete:
                for statement in self._db.sql.forget_model:
                    self._db.execute(statement, (model_id,))
            dimensions = {len(v) for kind in checked for v in checked[kind].values()}
            if len(dimensions) > 1:
                raise ValueError("vectors of one model must share one length")
            if dimensions:
                self._register_model(model_id, dimensions.pop())
            for kind, new in checked.items():
                owners = dict(self._db.execute(self._db.sql.owners[kind.table]))
                missing = sorted(set(new) - set(owners))
                if missing:
                    raise InputError(f"there is no {kind.table[:-1]} {missing[0]} in the gallery: nothing was stored")
                self._db.executemany(self._db.sql.upsert_vector[kind.vectors], [
                    (chip_id, model_id, self._fields.seal(v.tobytes(), kind.vector_cell(chip_id, model_id,
                                                                                       owners[chip_id])))
                    for chip_id, v in new.items()])
            self._book().record("re-embed", "", f"{len(checked[SAMPLES])} samples and {len(checked[NEGATIVES])} "
                                                f"negatives with model {model_id}")

    def count_missing(self, model_id: str) -> int:
        """Samples and negatives with no vector for ``model_id`` (they need ``reembed``)."""
        return sum(self._read(self._db.sql.missing_vectors[kind.table], (model_id,))[0][0]
                   for kind in (SAMPLES, NEGATIVES) if self._has_table(kind.table))

    def content_digest(self, history: bool = True) -> str:
        """A sha256 over every row of every table, sealed values opened, in a fixed order: equal
        digests, equal galleries, whatever the page layout and whether or how it is encrypted
        (the tests compare it before and after a failed write, and, with ``history=False``,
        across ``reprotect``, which adds an entry)."""
        from .copy import opened_rows

        digest = hashlib.sha256()
        tables = [table for table in TABLES if history or table != "history"]
        with self._lock:
            for table, columns, rows in opened_rows(self, tables):
                digest.update(table.encode())
                keep = [index for index, column in enumerate(columns) if column != "name_key"]
                for row in rows:
                    digest.update(repr([row[index] for index in keep]).encode("utf-8", "backslashreplace"))
        return digest.hexdigest()

    # -- history and retention -----------------------------------------------------------------

    def record(self, action: str, subject: str = "", detail: str = "") -> None:
        """Add a history entry for something done outside the gallery (an export, a model switch)."""
        with self._write(counts=False):
            self._book().record(action, subject, detail)

    def history(self) -> tuple[list[_history.HistoryEntry], _history.ChainBreak | None]:
        """Every history entry, oldest first, and where the history was altered behind the
        gallery's back (an entry changed, added, or cut from the end: see
        ``history.verify_chain``), or None when intact. A plain gallery's history can be
        rewritten whole (no key): see ``history_is_sealed``."""
        if not self._has_table("history"):
            return [], None
        with self._lock, self._db.snapshot():  # the anchor and the entries of one moment
            return self._book().read(self._damaged)

    @property
    def history_is_sealed(self) -> bool:
        """Whether a cut or recomputed history shows: only under a key (an encrypted gallery)."""
        return self._fields.encrypted

    def mark_seen(self, names: list[str]) -> None:
        """Note that these people were identified just now (for the retention period). Not a
        change to anyone's data: no history entry, and the matcher's cache stays valid."""
        when = clock.stamp()
        with self._write(counts=False):
            for name in names:
                person_id = self._person_id(name)
                if person_id is not None:
                    self._db.execute(self._db.sql.seen, (when, person_id))

    def unseen_for(self, days: float) -> list[str]:
        """People not identified (nor enrolled) in the last ``days`` days."""
        cutoff = (clock.utc_now() - timedelta(days=days)).isoformat(timespec="seconds")
        return [self._name(person_id, name) for person_id, name in self._read(self._db.sql.unseen, (cutoff,))]

    def forget_unseen(self, days: float) -> list[str]:
        """The retention period: forget everyone not seen for ``days`` days; return who went."""
        if not days > 0:
            raise InputError(f"the retention period must be a positive number of days, not {days!r}")
        forgotten = []
        for name in self.unseen_for(days):
            self._db.deleting(partial(self._forget, name, f" (retention: not seen for {days:g} days)"))
            forgotten.append(name)
        return forgotten
