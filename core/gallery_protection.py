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
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from . import keystore
from .history import GENESIS, MISSING_ANCHOR, Anchor
from .crypto import FieldCipher, PassphraseParameters, SealBroken, WrongPassphraseError, random_key, unwrap_key, wrap_key
from .errors import InputError

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


def new_protection(mode: str, passphrase: PassphraseSource, shown: str) -> tuple[Protection | None, PlainFields]:
    """Fresh protection for a new or re-encrypted gallery: ``mode`` is "key" (a random key in
    the keyring or a key file), "passphrase" or "none"."""
    if mode == "none":
        return None, PlainFields()
    data_key = random_key()
    key_id = keystore.new_key_id()
    if mode == "passphrase":
        parameters = PassphraseParameters.new()
        scheme, values = "passphrase", parameters.to_dict()
        key_encryption_key = parameters.key(_passphrase(passphrase, shown))
    elif mode == "key":
        scheme, key_encryption_key = keystore.create_key(key_id)
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


def _passphrase(source: PassphraseSource, shown: str) -> str:
    value = source() if callable(source) else source
    if not value:
        raise PassphraseRequiredError(f"{shown}: the gallery is protected by a passphrase; give it (the command "
                                      "line reads ONESHOT_PASSPHRASE, or asks at the terminal)")
    return value
