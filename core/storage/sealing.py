"""How a gallery's biometric columns are stored: sealed under the gallery's key, or plain.

An encrypted gallery has one row in ``protection``: how its key is kept (``keyring`` or
``file``: a random key in the system keyring or a key file, see ``keystore``; or
``passphrase``: scrypt of what the user types) and the gallery's random data key sealed
under it. Every chip, vector, name, note, source and history subject is then sealed under
keys derived from that data key (``crypto.FieldCipher``); a name's lookup key is a keyed
digest, so names stay unique without being readable. Ids, dates and quality scores stay
in the clear: they are not biometric and they let SQLite sort and join.

A gallery without that row (made before encryption, or decrypted on purpose) is plain;
``PlainFields`` gives it the same interface, so the gallery's code has one path for both.

The row's parameters also hold the history's anchor (``history.Anchor``), sealed under the
data key: a history cut or rewritten without the key no longer matches it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.request import pathname2url

from . import keystore
from .history import GENESIS, MISSING_ANCHOR, Anchor
from .crypto import FieldCipher, PassphraseParameters, SealBroken, WrongPassphraseError, random_key, unwrap_key, wrap_key
from ..errors import InputError

# Every column that holds biometric or identifying data, per table: sealed in an encrypted gallery.
SEALED_COLUMNS = {
    "people": ("name", "note"),
    "samples": ("chip", "source"),
    "embeddings": ("vector",),
    "negatives": ("chip", "source"),
    "negative_embeddings": ("vector",),
    "history": ("subject", "detail"),
}
TEXT_COLUMNS = {"name", "note", "source", "subject", "detail"}
SCHEMES = ("keyring", "file", "passphrase")
ANCHOR = "history"  # the parameters' key of the sealed history anchor
ANCHOR_COLUMN = "protection.history"
# The endings of the files a gallery is built in before it is linked or renamed into place
# (created, encrypted, decrypted, rekeyed, copied): while one is there, its new key is not yet in use.
BUILDS = (".new", ".encrypt", ".decrypt", ".rekey", ".copy")

# What a caller may pass for a passphrase: the text, or a function asked only when one is needed.
PassphraseSource = str | Callable[[], str] | None


class PassphraseRequiredError(InputError):
    """The gallery is protected by a passphrase and none was given (the GUI then asks)."""


class Damaged(Exception):
    """A stored value that is not what the schema promises (or fails its authentication check)."""


class PlainFields:
    """An unencrypted gallery: values are stored as they are."""

    encrypted = False
    description = "not encrypted"

    def seal(self, value, column: str):
        return value

    def text(self, value, column: str, what: str) -> str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        if isinstance(value, (int, float)):
            return str(value)
        raise Damaged(f"{what} is not text")

    def blob(self, value, column: str, what: str):
        """Stored bytes, or None when the value is not bytes (the caller says what is damaged)."""
        return value if isinstance(value, bytes) else None

    def key(self, name_key: str) -> str:
        return name_key


class SealedFields(PlainFields):
    """An encrypted gallery: values are sealed on the way in and checked on the way out."""

    encrypted = True

    def __init__(self, data_key: bytes, description: str) -> None:
        self._cipher = FieldCipher(data_key)
        self.description = description

    def seal(self, value, column: str):
        if value is None:
            return None
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
        return self._cipher.seal(data, column)

    def text(self, value, column: str, what: str) -> str:
        if value is None:
            return ""
        return self._open(value, column, what).decode("utf-8", "surrogatepass")

    def blob(self, value, column: str, what: str):
        if value is None:  # a chip too large to read (the query's CASE): the caller reports it
            return None
        return self._open(value, column, what)

    def key(self, name_key: str) -> str:
        return self._cipher.index(name_key)

    def _open(self, value, column: str, what: str) -> bytes:
        try:
            return self._cipher.open(value, column)
        except SealBroken:
            raise Damaged(f"{what} fails its authentication check (altered, or sealed under another key)") from None


@dataclass(frozen=True)
class Protection:
    """The ``protection`` row: how the data key is kept, and the data key sealed under it."""

    scheme: str
    key_id: str
    parameters: dict
    wrapped_key: bytes

    @property
    def label(self) -> str:
        return wrapping_label(self.key_id)

    def describe(self) -> str:
        if self.scheme == "keyring":
            return f"encrypted (key in {keystore.keyring_name()})"
        return {"file": f"encrypted (key file in {keystore.key_folder()})",
                "passphrase": "encrypted (passphrase)"}[self.scheme]


def wrapping_label(key_id: str) -> str:
    """What the data key is bound to when wrapped: a wrapped key moved to another id fails to open."""
    return f"oneshot gallery {key_id}"


def read_protection(db: sqlite3.Connection, has_table: bool | None = None) -> Protection | None:
    """The gallery's protection row; None for a plain gallery; ``Damaged`` for a malformed one.
    ``has_table``: known already (another database than SQLite), else looked up."""
    if has_table is None:
        has_table = bool(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'protection'")
                         .fetchone())
    if not has_table:
        return None
    rows = db.execute("SELECT scheme, key_id, parameters, wrapped_key FROM protection").fetchall()
    if not rows:
        return None
    if len(rows) > 1:
        raise Damaged("it has more than one protection row")
    scheme, key_id, parameters, wrapped = rows[0]
    if scheme not in SCHEMES or not isinstance(key_id, str) or not key_id.isalnum() or not isinstance(wrapped, bytes):
        raise Damaged("its protection row is malformed")
    try:
        values = json.loads(parameters) if isinstance(parameters, str) and len(parameters) < 4096 else None
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise Damaged("its protection row is malformed")
    return Protection(scheme, key_id, values, wrapped)


def unlock(protection: Protection | None, passphrase: PassphraseSource, shown: str) -> PlainFields:
    """The fields of a gallery: plain, or sealed under its data key once the key is found.

    Raises ``MissingKeyError``, ``PassphraseRequiredError`` or ``WrongPassphraseError``;
    nothing is written either way.
    """
    if protection is None:
        return PlainFields()
    if protection.scheme == "passphrase":
        try:
            parameters = PassphraseParameters.from_dict(protection.parameters)
        except ValueError as exc:
            raise Damaged(f"its passphrase parameters are unusable ({exc})") from None
        key_encryption_key = parameters.key(_passphrase(passphrase, shown))
    else:
        try:
            key_encryption_key = keystore.load_key(protection.scheme, protection.key_id)
        except keystore.MissingKeyError as exc:
            raise keystore.MissingKeyError(f"{shown}: cannot open the encrypted gallery: {exc}") from None
    try:
        data_key = unwrap_key(key_encryption_key, protection.wrapped_key, protection.label)
    except SealBroken:
        if protection.scheme == "passphrase":
            raise WrongPassphraseError(f"{shown}: wrong passphrase: the gallery was not opened, nothing was "
                                       "changed") from None
        raise keystore.MissingKeyError(f"{shown}: the key found for this gallery does not open it (it was "
                                       "replaced or damaged): nothing was changed") from None
    return SealedFields(data_key, protection.describe())


def new_protection(mode: str, passphrase: PassphraseSource, shown: str,
                   gallery: str | None = None) -> tuple[Protection | None, PlainFields]:
    """Fresh protection for a new or re-encrypted gallery: ``mode`` is "key" (a random key in
    the keyring or a key file), "passphrase" or "none". ``gallery``: the file (else ``shown``),
    recorded next to a stored key so the key of a gallery that is gone can be found."""
    if mode == "none":
        return None, PlainFields()
    data_key = random_key()
    key_id = keystore.new_key_id()
    if mode == "passphrase":
        parameters = PassphraseParameters.new()
        scheme, values = "passphrase", parameters.to_dict()
        key_encryption_key = parameters.key(_passphrase(passphrase, shown))
    elif mode == "key":
        scheme, key_encryption_key = keystore.create_key(key_id, gallery or shown)
        values = {}
    else:
        raise ValueError(f"protection must be key, passphrase or none, not {mode!r}")
    fields = SealedFields(data_key, "")
    values[ANCHOR] = fields.seal(Anchor(0, GENESIS).to_bytes(), ANCHOR_COLUMN).hex()  # so a missing one shows
    protection = Protection(scheme, key_id, values, wrap_key(key_encryption_key, data_key, wrapping_label(key_id)))
    fields.description = protection.describe()
    return protection, fields


def write_protection(db: sqlite3.Connection, protection: Protection | None) -> None:
    db.execute("DELETE FROM protection")
    if protection is not None:
        db.execute("INSERT INTO protection (id, scheme, key_id, parameters, wrapped_key) VALUES (1, ?, ?, ?, ?)",
                   (protection.scheme, protection.key_id, json.dumps(protection.parameters), protection.wrapped_key))


def write_anchor(db: sqlite3.Connection, fields: PlainFields, anchor: Anchor) -> None:
    """Seal the history's new head into the protection row (an encrypted gallery's; a plain
    one has no key to seal it with), in the caller's transaction."""
    if not fields.encrypted:
        return
    (parameters,) = db.execute("SELECT parameters FROM protection").fetchone()
    values = json.loads(parameters)
    values[ANCHOR] = fields.seal(anchor.to_bytes(), ANCHOR_COLUMN).hex()
    db.execute("UPDATE protection SET parameters = ?", (json.dumps(values),))


def read_anchor(db: sqlite3.Connection, fields: PlainFields) -> Anchor | str | None:
    """The history's sealed anchor; why it cannot be trusted, in words; None for a plain gallery."""
    if not fields.encrypted:
        return None
    row = db.execute("SELECT parameters FROM protection").fetchone()
    try:
        sealed = json.loads(row[0]).get(ANCHOR) if row and isinstance(row[0], str) else None
        if sealed is None:
            return MISSING_ANCHOR
        return Anchor.from_bytes(fields.blob(bytes.fromhex(sealed), ANCHOR_COLUMN, "its sealed anchor"))
    except Damaged as exc:
        return str(exc)
    except (ValueError, TypeError, AttributeError):
        return "its sealed anchor is malformed"


def forget_stored_key(protection: Protection | None) -> None:
    """Delete the keyring entry or key file of a protection no gallery uses any more."""
    if protection is not None and protection.scheme in ("keyring", "file"):
        keystore.delete_key(protection.scheme, protection.key_id)


def retire_stored_key(protection: Protection | None, gallery: str) -> str | None:
    """Keep the key of a protection the gallery no longer uses, as a retired key: copies and
    backups of the file made before still need it. Returns that warning, in words (None for a
    gallery that was plain: its old copies need nothing)."""
    if protection is None:
        return None
    if protection.scheme == "passphrase":
        return "copies and backups of the gallery made before now still need its old passphrase: keep it with them"
    keystore.retire_key(protection.scheme, protection.key_id, gallery)
    return (f"copies and backups of the gallery made before now still need its old key {protection.key_id}: it is "
            f"kept as a retired key (`oneshot gallery status` lists it; back it up with them, and delete it with "
            f"`oneshot gallery forget-key {protection.key_id}` once none is left)")


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
    db = sqlite3.connect(f"file:{pathname2url(os.path.abspath(path))}?mode=ro", uri=True)
    try:
        protection = read_protection(db)
    finally:
        db.close()
    return protection.key_id if protection is not None else None


def _passphrase(source: PassphraseSource, shown: str) -> str:
    value = source() if callable(source) else source
    if not value:
        raise PassphraseRequiredError(f"{shown}: the gallery is protected by a passphrase; give it (the command "
                                      "line reads ONESHOT_PASSPHRASE, or asks at the terminal)")
    return value
