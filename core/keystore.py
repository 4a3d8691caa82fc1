"""Where a gallery's key lives when no passphrase is asked for: the system keyring, else a key file.

The key is never stored next to the gallery, so a copied, synced or backed-up gallery file
alone is unreadable. With a keyring (Secret Service, Windows Credential Manager, macOS
Keychain, through ``keyring``) the key is there; where there is none (a headless server,
CI) it goes to a file of its own in the user's config folder (``$ONESHOT_KEYS`` overrides),
readable by its owner only. ``ONESHOT_KEY_STORE=file`` or ``=keyring`` forces one. Each key
has a random id recorded in the gallery, so several galleries each find their own key.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from pathlib import Path

from .crypto import KEY_BYTES, random_key
from .errors import InputError
from .paths import user_path

log = logging.getLogger(__name__)

KEYRING_SERVICE = "OneShot gallery key"
STORES = ("keyring", "file")


class MissingKeyError(InputError):
    """The gallery's key cannot be found where the gallery says it is; nothing was changed."""


def key_folder() -> Path:
    return user_path("ONESHOT_KEYS", "config", "keys")


def new_key_id() -> str:
    return secrets.token_hex(16)


def create_key(key_id: str) -> tuple[str, bytes]:
    """A new random key stored under ``key_id``; returns (store, key)."""
    key = random_key()
    preferred = os.environ.get("ONESHOT_KEY_STORE", "").strip().lower()
    if preferred not in ("", *STORES):
        raise InputError(f"ONESHOT_KEY_STORE must be keyring or file, not {preferred!r}")
    if preferred != "file":
        problem = _keyring_problem()
        if problem is None:
            try:
                _keyring().set_password(KEYRING_SERVICE, key_id, _encode(key))
                return "keyring", key
            except Exception as exc:  # any backend failure: locked, no D-Bus, denied
                problem = f"{type(exc).__name__}: {exc}"
        if preferred == "keyring":
            raise MissingKeyError(f"cannot store the gallery key in the system keyring ({problem})")
        log.info("no usable system keyring (%s): the gallery key goes to a key file in %s", problem, key_folder())
    _write_key_file(key_id, key)
    return "file", key


def load_key(store: str, key_id: str) -> bytes:
    """The key ``key_id`` from ``store``; ``MissingKeyError`` saying where it was looked for."""
    if store == "keyring":
        problem = _keyring_problem()
        if problem is not None:
            raise MissingKeyError(f"the gallery's key is kept in the system keyring, which is not available here "
                                  f"({problem}); open it where its keyring is, or unlock the keyring")
        try:
            text = _keyring().get_password(KEYRING_SERVICE, key_id)
        except Exception as exc:
            raise MissingKeyError(f"the system keyring could not be read ({type(exc).__name__}: {exc})") from None
        if text is None:
            raise MissingKeyError(f"the gallery's key ({key_id[:8]}…) is not in this system keyring: the gallery "
                                  "was made for another user or machine, or its key was deleted")
        return _decode(text, "the keyring entry")
    if store == "file":
        return _read_key_file(key_id)
    raise MissingKeyError(f"unknown key store {store!r}")


def delete_key(store: str, key_id: str) -> None:
    """Forget a key no gallery uses any more (best effort: a leftover key opens nothing)."""
    try:
        if store == "keyring":
            _keyring().delete_password(KEYRING_SERVICE, key_id)
        else:
            os.unlink(_key_path(key_id))
    except Exception as exc:
        log.warning("the old gallery key %s… could not be deleted (%s)", key_id[:8], exc)


def _keyring():
    import keyring

    return keyring.get_keyring()


def _keyring_problem() -> str | None:
    """Why the system keyring cannot be used here, or None when it can."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null
    except ImportError:
        return "the keyring package is not installed"
    backend = keyring.get_keyring()
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return "no keyring service is running"
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return "no keyring service is running"
    return None


def _key_path(key_id: str) -> Path:
    if not key_id.isalnum():
        raise MissingKeyError("the gallery names a malformed key id")
    return key_folder() / f"{key_id}.key"


def _write_key_file(key_id: str, key: bytes) -> None:
    folder = key_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(_key_path(key_id), flags, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(_encode(key) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as exc:
        raise MissingKeyError(f"cannot write the gallery key file in {folder} ({exc.strerror or exc})") from None


def _read_key_file(key_id: str) -> bytes:
    path = _key_path(key_id)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 1024:
            raise MissingKeyError(f"{path}: not a OneShot key file")
        text = path.read_text("ascii")
    except FileNotFoundError:
        raise MissingKeyError(f"the gallery's key file is missing ({path}): the gallery was made for another user "
                              "or machine, or its key was deleted (set ONESHOT_KEYS if the keys are elsewhere)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MissingKeyError(f"cannot read the gallery's key file {path} ({exc})") from None
    return _decode(text.strip(), str(path))


def _encode(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise MissingKeyError(f"{where}: not a OneShot gallery key")
    return key
