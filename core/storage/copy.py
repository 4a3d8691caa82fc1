"""Every row of a gallery, opened, and put somewhere else sealed again: copies, re-encryption,
re-sealing in a migration, and ``oneshot gallery copy SRC DST``.

A copy keeps every row's id (so history entries still name the right samples, and a value's
seal, bound to its row, is made for the same row), and seals again under the destination's
own key, in ONE transaction on the destination: a copy that fails or is killed leaves a new
file absent, and a server database with no people in it (the schema only), never half a
gallery. The destination of ``copy_gallery`` must be new: a file that does not exist, or a
database without a gallery or with an empty one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import GalleryError, InputError
from .history import HistoryBook
from .location import shown_location
from .names import name_key
from .postgres import PostgresGallery, is_postgres_location
from .repository import Gallery
from .schema import OWNERS, ROW_KEYS, SEALED_COLUMNS, TABLES, TEXT_COLUMNS
from .sealing import Cell, Damaged, PlainFields, cell, new_protection, write_protection
from .sqlite import build_file, remove_database_files, sync_folder
from .store import Progress


def _cell(table: str, column: str, keys: tuple, owner) -> Cell:
    return cell(table, column, "\x1f".join(str(key) for key in keys), owner)


def _rows(gallery: Gallery, table: str):
    """(columns, rows) of one table as stored, each row with its owner last, oldest first."""
    db = gallery.database
    columns = db.columns(table)
    quoted = ", ".join(f'"{column}"' for column in columns)
    return columns, db.execute(f"SELECT {quoted}, {OWNERS[table]} FROM {table} ORDER BY 1, 2")


def opened_rows(gallery: Gallery, tables=tuple(TABLES)):
    """(table, columns, rows) of every data table, oldest row first, sealed values opened (a
    value that fails to open: ``GalleryError``, the whole read refused)."""
    for table, columns, rows in _opened_rows(gallery, tables):
        yield table, columns, (values for values, _ in rows)


def _opened_rows(gallery: Gallery, tables=tuple(TABLES)):
    """As ``opened_rows``, each row with the person it belongs to: (values, owner)."""
    fields = gallery.fields
    for table in tables:
        if table == "protection" or not gallery.database.has_table(table):
            continue
        columns = gallery.database.columns(table)
        quoted = ", ".join(f'"{column}"' for column in columns)
        rows = gallery.database.execute(f"SELECT {quoted}, {OWNERS[table]} FROM {table} ORDER BY 1, 2")
        sealed = _sealed(table, columns)
        keys = [columns.index(key) for key in ROW_KEYS[table]]
        yield table, columns, (_opened(fields, table, sealed, keys, row, gallery.shown) for row in rows)


def _sealed(table: str, columns: list[str]) -> dict[int, str]:
    return {index: column for index, column in enumerate(columns) if column in SEALED_COLUMNS.get(table, ())}


def _opened(fields: PlainFields, table: str, sealed: dict[int, str], keys: list[int], row: tuple,
            shown: str) -> tuple[list, object]:
    values, owner = list(row[:-1]), row[-1]
    key = tuple(values[index] for index in keys)
    for index, column in sealed.items():
        what = f"{column} of {table} row {values[0]}"
        where = _cell(table, column, key, owner)
        try:
            values[index] = (fields.text(values[index], where, what) if column in TEXT_COLUMNS
                             else fields.blob(values[index], where, what))
        except Damaged as exc:
            raise GalleryError(f"{shown}: the gallery is damaged ({exc})") from None
    return values, owner


def copy_rows(source: Gallery, target, fields: PlainFields, progress: Progress | None = None) -> None:
    """Every row of ``source`` into ``target`` (a database port in its transaction), sealed
    again with ``fields``; ids are kept."""
    people = source.people()
    total = len(people) + sum(person.samples for person in people)
    done = 0
    for table, columns, rows in _opened_rows(source):
        sealed = _sealed(table, columns)
        keys = [columns.index(key) for key in ROW_KEYS[table]]
        quoted = ", ".join(f'"{column}"' for column in columns)
        insert = f"INSERT INTO {table} ({quoted}) VALUES ({', '.join([target.sql.marker] * len(columns))})"
        batch = []
        for values, owner in rows:
            if table == "people":
                values[columns.index("name_key")] = fields.key(name_key(values[columns.index("name")]))
            key = tuple(values[index] for index in keys)
            for index, column in sealed.items():
                values[index] = fields.seal(values[index], _cell(table, column, key, owner))
            batch.append(tuple(values))
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


def new_file_rows(source: Gallery, protection, fields: PlainFields, progress: Progress | None, action: str,
                  detail: str):
    """What a new file built from ``source`` holds (``SqliteDatabase.replace_with``'s and
    ``build_file``'s ``fill``): its protection row, every row sealed with ``fields``, and the
    history entry saying why it was made."""
    def fill(target) -> None:
        write_protection(target, protection)
        copy_rows(source, target, fields, progress)
        HistoryBook(target, fields).record(action, "", detail)
    return fill


def reseal_in_place(gallery: Gallery) -> None:
    """Seal every value of an encrypted gallery again, bound to its row and owner (schema 5),
    inside the caller's write transaction: one atomic step. A value that fails to open stays
    as it is: it was damaged before, and it is damaged after."""
    db, fields = gallery.database, gallery.fields
    with db.append_only_lifted():
        for table, columns in SEALED_COLUMNS.items():
            if not db.has_table(table):
                continue
            names = ROW_KEYS[table] + columns
            quoted = ", ".join(f'"{name}"' for name in names)
            updates = []
            for row in db.execute(f"SELECT {quoted}, {OWNERS[table]} FROM {table}"):
                key, values, owner = row[:len(ROW_KEYS[table])], row[len(ROW_KEYS[table]):-1], row[-1]
                resealed = []
                for column, value in zip(columns, values):
                    where = _cell(table, column, key, owner)
                    try:
                        opened = fields.blob(value, where, column) if value is not None else None
                    except Damaged:
                        resealed.append(value)
                        continue
                    resealed.append(fields.seal(opened, where) if opened is not None else None)
                updates.append((*resealed, *key))
            if updates:
                db.executemany(db.sql.reseal[table], updates)


def copy_gallery(source: Gallery, destination: str | Path, progress: Progress | None = None,
                 passphrase=None) -> str:
    """Copy everything in ``source`` to a new gallery at ``destination``; return how it is protected."""
    detail = f"from {shown_location(source.location if isinstance(source, PostgresGallery) else source.path)}"
    if is_postgres_location(destination):
        return _to_server(source, str(destination), detail, progress, passphrase)
    return _to_file(source, Path(destination), detail, progress, passphrase)


def _to_file(source: Gallery, path: Path, detail: str, progress, passphrase) -> str:
    if os.path.lexists(path):
        raise InputError(f"{shown_location(path)}: already exists; copy to a new file (nothing was written)")
    protection, fields = new_protection("passphrase" if passphrase else "key", passphrase, shown_location(path))
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.copy"

    fill = new_file_rows(source, protection, fields, progress, "import", f"the whole gallery, copied {detail}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build_file(temporary, shown_location(path), "copy the gallery", fill)
        os.link(temporary, path)
        sync_folder(path.parent)
    except FileExistsError:
        raise InputError(f"{shown_location(path)}: already exists; copy to a new file (nothing was written)") from None
    finally:
        remove_database_files(temporary)
    return fields.description


def _to_server(source: Gallery, location: str, detail: str, progress, passphrase) -> str:
    with PostgresGallery(location, protection="passphrase" if passphrase else "key", passphrase=passphrase) as target:
        if target.people() or target.history()[0]:
            raise InputError(f"{shown_location(location)}: already holds a gallery; copy to an empty database "
                             "(nothing was written)")
        db = target.database
        with db.transaction():
            copy_rows(source, db, target.fields, progress)
            db.restart_ids()
            HistoryBook(db, target.fields).record("import", "", f"the whole gallery, copied {detail}")
        return target.protection
