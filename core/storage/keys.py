"""The stored keys of galleries: which are in use, retired (kept for older copies of a gallery)
or orphaned (their gallery is gone), for ``oneshot gallery status`` and ``gallery forget-key``."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.request import pathname2url

from ..errors import InputError
from . import keystore
from .sealing import Damaged, Protection, parsed_protection

# The endings of the files a gallery is built in before it is linked or renamed into place
# (created, encrypted, decrypted, rekeyed, copied): while one is there, its new key is not yet in use.
BUILDS = (".new", ".encrypt", ".decrypt", ".rekey", ".copy")


@dataclass(frozen=True)
class KeyState:
    """A stored key and whether a gallery may still need it: ``state`` is "in use", "retired"
    (kept for older copies of its gallery), "orphaned" (its gallery is gone or uses another
    key) or "unrecorded" (a key file from before records were kept); ``why`` says so in words."""

    record: keystore.KeyRecord
    state: str
    why: str


def key_states() -> list[KeyState]:
    """Every stored key the key folder knows of, and whether its gallery still uses it."""
    return [KeyState(record, *_state_of(record)) for record in keystore.stored_keys()]


def forgettable_key(key_id: str) -> KeyState:
    """The retired or orphaned key ``key_id``; ``InputError`` saying why when a gallery may still need it."""
    found = [state for state in key_states() if state.record.key_id == key_id]
    if not found:
        raise InputError(f"no gallery key {key_id} in {keystore.key_folder()} (`oneshot gallery status` lists the "
                         "retired and orphaned ones)")
    if found[0].state not in ("retired", "orphaned"):
        raise InputError(f"the gallery key {key_id} is kept: {found[0].why}")
    return found[0]


def _state_of(record: keystore.KeyRecord) -> tuple[str, str]:
    if record.gallery is None:
        return "unrecorded", ("no record says which gallery it belongs to (made before OneShot kept records): "
                              "delete its key file by hand once you are sure no gallery needs it")
    if "://" in record.gallery:  # a shared gallery's server: it cannot be looked into from here
        return "in use", f"it belongs to the shared gallery {record.gallery}"
    path = Path(record.gallery)
    building = _builds(path)
    if building:
        return "in use", f"{path} is being created or re-encrypted ({building[0]}); try again when that is done"
    if not os.path.lexists(path):
        return "orphaned", f"its gallery {path} is gone"
    try:
        current = gallery_key_id(path)
    except (sqlite3.Error, Damaged) as exc:
        return "in use", f"{path} cannot be read to tell which key it uses ({exc})"
    if current == record.key_id:
        return "in use", f"the gallery {path} uses it"
    if record.retired:
        return "retired", f"retired {record.retired} from {path}"
    return "orphaned", f"its gallery {path} now uses another key"


def _builds(path: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(path.parent)
                      if entry.name.startswith(f".{path.name}.") and entry.name.endswith(BUILDS))
    except OSError:
        return []


def gallery_key_id(path: Path) -> str | None:
    """The key id the gallery file at ``path`` is encrypted under; None for a plain gallery."""
    protection = file_protection(path)
    return protection.key_id if protection is not None else None


def file_protection(path: Path) -> Protection | None:
    """The protection row of the gallery file at ``path``, read without opening the gallery
    (no key needed, nothing written); None for a plain gallery."""
    db = sqlite3.connect(f"file:{pathname2url(os.path.abspath(path))}?mode=ro", uri=True)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'protection'").fetchone():
            return None
        rows = db.execute("SELECT scheme, key_id, parameters, wrapped_key FROM protection").fetchall()
    finally:
        db.close()
    if len(rows) > 1:
        raise Damaged("it has more than one protection row")
    return parsed_protection(*rows[0]) if rows else None
