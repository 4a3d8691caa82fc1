"""How a gallery's identifying values are stored: sealed under the gallery's key, or plain.

An encrypted gallery has one row in ``protection``: how its key is kept (``keyring`` or
``file``: a random key in the system keyring or a key file, see ``keystore``; or
``passphrase``: scrypt of what the user types) and the gallery's random data key sealed
under it. Every chip, vector, name, note, source and history subject is then sealed under
keys derived from that data key (``crypto.FieldCipher``), bound to the ``Cell`` it lives in:
its table, column, row and owning person. A value copied, moved or swapped into another
row (another sample's vector, another person's name) fails its check instead of being read
as someone else's. A name's lookup key is a keyed digest, so names stay unique without
being readable. Ids, dates and quality scores stay in the clear: they are not biometric
and they let the database sort and join.

Galleries sealed before schema 5 bound a value to its column only ("legacy"); they are read
as they are and re-sealed row by row in the first write (``core.storage.copy.reseal_in_place``).

A gallery without that row (made before encryption, or decrypted on purpose) is plain;
``PlainFields`` gives it the same interface, so the gallery's code has one path for both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MissingKeyError, PassphraseNeededError, WrongPassphraseError
from . import keystore
from .crypto import FieldCipher, PassphraseParameters, SealBroken, random_key, unwrap_key, wrap_key

SCHEMES = ("keyring", "file", "passphrase")

# What a caller may pass for a passphrase: the text, or a function asked only when one is needed.
PassphraseSource = str | Callable[[], str] | None


class Damaged(Exception):
    """A stored value that is not what the schema promises (or fails its authentication check)."""


# Where a sealed value lives, and so what its seal is bound to: table, column, row (its id; a
# vector: its chip's id and its model) and the person the row belongs to ('' for a history
# entry), joined by a unit separator. A string, as made once per value opened.
Cell = str


def cell(table: str, column: str, row, owner=None) -> Cell:
    return f"{table}\x1f{column}\x1f{row}\x1f{'' if owner is None else owner}"


def legacy_context(where: Cell) -> str:
    """What a value sealed before schema 5 is bound to: its column only."""
    table, column, _ = where.split("\x1f", 2)
    return f"{table}.{column}"


class PlainFields:
    """An unencrypted gallery: values are stored as they are."""

    encrypted = False
    description = "not encrypted"
    legacy = False  # values bound to their column only (a gallery sealed before schema 5)

    def seal(self, value, where: Cell):
        return value

    def text(self, value, where: Cell | None, what: str) -> str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        if isinstance(value, (int, float)):
            return str(value)
        raise Damaged(f"{what} is not text")

    def blob(self, value, where: Cell, what: str):
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

    def seal(self, value, where: Cell):
        if value is None:
            return None
        data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
        return self._cipher.seal(data, where)

    def seal_bytes(self, data: bytes, context: str) -> bytes:
        """A value that lives outside the tables (the history's anchor), bound to ``context``."""
        return self._cipher.seal(data, context)

    def open_bytes(self, sealed: bytes, context: str, what: str) -> bytes:
        try:
            return self._cipher.open(sealed, context)
        except SealBroken:
            raise Damaged(f"{what} fails its authentication check (altered, or sealed under another key)") from None

    def text(self, value, where: Cell | None, what: str) -> str:
        if value is None or where is None:
            return super().text(value, where, what)
        return self._open(value, where, what).decode("utf-8", "surrogatepass")

    def blob(self, value, where: Cell, what: str):
        if value is None:  # a chip too large to read (the query's CASE): the caller reports it
            return None
        return self._open(value, where, what)

    def key(self, name_key: str) -> str:
        return self._cipher.index(name_key)

    def _open(self, value, where: Cell, what: str) -> bytes:
        contexts = (legacy_context(where), where) if self.legacy else (where,)
        for context in contexts:  # a gallery being upgraded by another station may hold either
            try:
                return self._cipher.open(value, context)
            except SealBroken:
                continue
        raise Damaged(f"{what} fails its authentication check (altered, moved from another row, or sealed under "
                      "another key)")


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


def read_protection(db) -> Protection | None:
    """The gallery's protection row (``db``: a ``core.storage.port.Database``); None for a
    plain gallery; ``Damaged`` for a malformed one."""
    if not db.has_table("protection"):
        return None
    rows = db.execute(db.sql.protection)
    if not rows:
        return None
    if len(rows) > 1:
        raise Damaged("it has more than one protection row")
    return parsed_protection(*rows[0])


def parsed_protection(scheme, key_id, parameters, wrapped) -> Protection:
    """A protection row's values checked; ``Damaged`` when malformed."""
    wrapped = bytes(wrapped) if isinstance(wrapped, memoryview) else wrapped
    if scheme not in SCHEMES or not isinstance(key_id, str) or not key_id.isalnum() or not isinstance(wrapped, bytes):
        raise Damaged("its protection row is malformed")
    try:
        values = json.loads(parameters) if isinstance(parameters, str) and len(parameters) < 4096 else None
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise Damaged("its protection row is malformed")
    return Protection(scheme, key_id, values, wrapped)


def write_protection(db, protection: Protection | None) -> None:
    """Replace the protection row, in the caller's transaction."""
    db.execute(db.sql.clear_protection)
    if protection is not None:
        db.execute(db.sql.insert_protection, (protection.scheme, protection.key_id, json.dumps(protection.parameters),
                                              protection.wrapped_key))


def unlock(protection: Protection | None, passphrase: PassphraseSource, shown: str) -> PlainFields:
    """The fields of a gallery: plain, or sealed under its data key once the key is found.

    Raises ``MissingKeyError``, ``PassphraseNeededError`` or ``WrongPassphraseError``;
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
        except MissingKeyError as exc:
            raise MissingKeyError(f"{shown}: cannot open the encrypted gallery: {exc}") from None
    try:
        data_key = unwrap_key(key_encryption_key, protection.wrapped_key, protection.label)
    except SealBroken:
        if protection.scheme == "passphrase":
            raise WrongPassphraseError(f"{shown}: wrong passphrase: the gallery was not opened, nothing was "
                                       "changed") from None
        raise MissingKeyError(f"{shown}: the key found for this gallery does not open it (it was replaced or "
                              "damaged): nothing was changed") from None
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
    protection = Protection(scheme, key_id, values, wrap_key(key_encryption_key, data_key, wrapping_label(key_id)))
    return protection, SealedFields(data_key, protection.describe())


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


def asked_once(source: PassphraseSource) -> PassphraseSource:
    """A passphrase function that asks at most once, however often the gallery needs it."""
    if not callable(source):
        return source
    answer: list[str] = []

    def ask() -> str:
        if not answer:
            answer.append(source())
        return answer[0]
    return ask


def _passphrase(source: PassphraseSource, shown: str) -> str:
    value = source() if callable(source) else source
    if not value:
        raise PassphraseNeededError(f"{shown}: the gallery is protected by a passphrase; give it (the command "
                                    "line reads ONESHOT_PASSPHRASE, or asks at the terminal)")
    return value
