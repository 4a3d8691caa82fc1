"""``oneshot gallery copy SRC DST``: a gallery moved between a file and a PostgreSQL server.

Every row goes across with its id (so history entries still name the right samples), sealed
again under the destination's own new key, in ONE transaction on the destination: a copy
that fails or is killed leaves a new file absent, and a server database with no people in
it (the schema only), never half a gallery. The destination must be new: a file that does
not exist, or a database without a gallery or with an empty one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .gallery import Gallery, _remove_database_files, sync_folder
from .location import shown_location
from .postgres import ID_TABLES, PostgresGallery, is_postgres_location
from .sealing import new_protection

Progress = Callable[[int, int], None]


def copy_gallery(source: Gallery, destination: str | Path, progress: Progress | None = None,
                 passphrase=None) -> str:
    """Copy everything in ``source`` to a new gallery at ``destination``; return how it is protected."""
    total = len(source.people()) + sum(person.samples for person in source.people())
    detail = f"from {shown_location(source.location if isinstance(source, PostgresGallery) else source.path)}"
    if is_postgres_location(destination):
        return _to_server(source, str(destination), total, detail, progress, passphrase)
    return _to_file(source, Path(destination), total, detail, progress, passphrase)


def _to_file(source: Gallery, path: Path, total: int, detail: str, progress, passphrase) -> str:
    if os.path.lexists(path):
        raise InputError(f"{shown_location(path)}: already exists; copy to a new file (nothing was written)")
    protection, fields = new_protection("passphrase" if passphrase else "key", passphrase, shown_location(path))
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.copy"

    def fill(target) -> None:
        source._copy_into(target, fields, total, progress)
        source._record(target, "import", "", f"the whole gallery, copied {detail}", fields)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        source._build(temporary, protection, "copy the gallery", fill)
        os.link(temporary, path)
        sync_folder(path.parent)
    except FileExistsError:
        raise InputError(f"{shown_location(path)}: already exists; copy to a new file (nothing was written)") from None
    finally:
        _remove_database_files(temporary)
    return fields.description


def _to_server(source: Gallery, location: str, total: int, detail: str, progress, passphrase) -> str:
    with PostgresGallery(location, protection="passphrase" if passphrase else "key", passphrase=passphrase) as target:
        if target.people() or target.history()[0]:
            raise InputError(f"{shown_location(location)}: already holds a gallery; copy to an empty database "
                             "(nothing was written)")
        with target._write() as db:
            source._copy_into(db, target._fields, total, progress)
            for table in ID_TABLES:
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
            target._record(db, "import", "", f"the whole gallery, copied {detail}")
        return target.protection
