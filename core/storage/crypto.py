"""Authenticated encryption for biometric data: one cipher for gallery fields and exports.

Why AES-256-GCM from ``cryptography`` inside ordinary SQLite, and not SQLCipher: the
``cryptography`` wheels exist for Linux, Windows and macOS (x86-64 and ARM) and PyInstaller
ships a hook for them, while the maintained SQLCipher bindings have Linux wheels only and
would replace the standard ``sqlite3`` module the gallery's safety checks are built on.
Sealing field by field costs about 1 microsecond per vector: a 100k-vector gallery opens
about 0.1 s slower (``tests/benchmarks/test_encryption.py`` measures it).

Every sealed value carries its own random 96-bit nonce and is bound to what it is
(``context``: "samples.chip", "people.name", a zip member's name), so a ciphertext moved
to another column or member fails its check instead of being read as something else.
Keys are derived with HKDF from one random data key per gallery; a passphrase becomes a key
with scrypt at parameters stored beside the salt (and bounded when read back, so a hostile
file cannot demand gigabytes of memory).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import InputError

KEY_BYTES = 32
NONCE_BYTES = 12
OVERHEAD = NONCE_BYTES + 16  # nonce + GCM tag added to every sealed value
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 17, 8, 1  # OWASP's scrypt minimum: 128 MiB, about 0.3 s here
MAX_SCRYPT_N, MAX_SCRYPT_R, MAX_SCRYPT_P = 1 << 20, 16, 4  # what a file may ask of us, at most ...
MAX_SCRYPT_MEMORY = 1 << 21  # ... and n * r together (128 * n * r bytes: 256 MiB), n * r * p (time) twice that


class SealBroken(Exception):
    """A sealed value failed its authentication check: wrong key, or damaged or moved data."""


def random_key() -> bytes:
    return os.urandom(KEY_BYTES)


class FieldCipher:
    """Seals and opens values under keys derived from one data key; ``index`` is a keyed,
    deterministic digest for looking a value up (a name) without storing it readably."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(_derive(data_key, b"oneshot seal v1"))
        self._index_key = _derive(data_key, b"oneshot index v1")

    def seal(self, plain: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if not isinstance(sealed, bytes) or len(sealed) < OVERHEAD:
            raise SealBroken(context)
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise SealBroken(context) from None

    def index(self, text: str) -> str:
        return hmac.new(self._index_key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def wrap_key(key_encryption_key: bytes, data_key: bytes, label: str) -> bytes:
    """The data key sealed under a key from the keyring, a key file or a passphrase."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key_encryption_key).encrypt(nonce, data_key, label.encode())


def unwrap_key(key_encryption_key: bytes, wrapped: bytes, label: str) -> bytes:
    """The data key; ``SealBroken`` when the key (or passphrase) is not the one it was sealed with."""
    if not isinstance(wrapped, bytes) or len(wrapped) != OVERHEAD + KEY_BYTES:
        raise SealBroken(label)
    try:
        return AESGCM(key_encryption_key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], label.encode())
    except InvalidTag:
        raise SealBroken(label) from None


@dataclass(frozen=True)
class PassphraseParameters:
    """What turns a passphrase into a key: scrypt's salt and costs, stored in the clear."""

    salt: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def new(cls) -> PassphraseParameters:
        return cls(os.urandom(16))

    def to_dict(self) -> dict:
        return {"kdf": "scrypt", "salt": self.salt.hex(), "n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_dict(cls, values) -> PassphraseParameters:
        """Read stored parameters, refusing anything malformed or too costly; ``ValueError`` says why."""
        if not isinstance(values, dict) or values.get("kdf") != "scrypt":
            raise ValueError("unknown key derivation")
        salt, n, r, p = values.get("salt"), values.get("n"), values.get("r"), values.get("p")
        if not isinstance(salt, str) or not 16 <= len(salt) <= 128:
            raise ValueError("bad salt")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p)):
            raise ValueError("bad scrypt costs")
        if not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P):
            raise ValueError("scrypt costs out of range")
        if n * r > MAX_SCRYPT_MEMORY or n * r * p > 2 * MAX_SCRYPT_MEMORY:
            raise ValueError("scrypt costs too high (more memory or time than OneShot ever asks for)")
        return cls(bytes.fromhex(salt), n, r, p)

    def key(self, passphrase: str) -> bytes:
        if not passphrase:
            raise InputError("the passphrase is empty")
        kdf = Scrypt(salt=self.salt, length=KEY_BYTES, n=self.n, r=self.r, p=self.p)
        return kdf.derive(passphrase.encode("utf-8"))


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(key)
