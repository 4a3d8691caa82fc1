"""Where a gallery's key lives when no passphrase is asked for: the system keyring, else a key file.

The key is never stored next to the gallery, so a copied, synced or backed-up gallery file
alone is unreadable. With a keyring (Secret Service, KWallet, Windows Credential Locker,
macOS Keychain, through ``keyring``) the key is there; where there is none (a headless
server, CI) it goes to a file of its own in the user's config folder (``$ONESHOT_KEYS``
overrides), readable by its owner only. ``ONESHOT_KEY_STORE=file`` or ``=keyring`` forces
one. Each key has a random id recorded in the gallery, so several galleries each find their
own key.

Only those OS stores count as a keyring: a file-backed ``keyring`` backend (keyrings.alt)
keeps every key in one plaintext file that it rewrites whole, so two programs creating
galleries at once lose one's key for good. A key file is written once, under its own name,
and never rewritten; every key written is read back before the gallery that needs it exists.

Next to each key the key folder keeps a record, ``<id>.json``: which gallery the key
belongs to, and when it was retired (``gallery rekey`` and ``decrypt`` keep the old key,
because copies and backups of the file made before still need it). ``gallery status``
lists retired keys and keys whose gallery is gone; ``gallery forget-key`` deletes one.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .crypto import KEY_BYTES, random_key
from ..errors import InputError, MissingKeyError
from ..paths import user_path

log = logging.getLogger(__name__)

KEYRING_SERVICE = "OneShot gallery key"
STORES = ("keyring", "file")
# The modules of the keyring backends that are the OS's own secure stores.
SECURE_BACKENDS = ("keyring.backends.SecretService", "keyring.backends.libsecret", "keyring.backends.kwallet",
                   "keyring.backends.macOS", "keyring.backends.Windows")


@dataclass(frozen=True)
class KeyRecord:
    """A stored key as its record tells it. ``gallery`` (a file's absolute path, or a server's
    URL without its password) is None for a key file made before records were kept."""

    key_id: str
    store: str
    gallery: str | None
    created: str | None = None
    retired: str | None = None


def key_folder() -> Path:
    return user_path("ONESHOT_KEYS", "config", "keys")


def new_key_id() -> str:
    return secrets.token_hex(16)


def create_key(key_id: str, gallery: str) -> tuple[str, bytes]:
    """A new random key stored under ``key_id`` for the gallery at ``gallery``, recorded next
    to it so a key whose gallery is gone can be found; returns (store, key)."""
    store, key = _store_new_key(key_id)
    try:
        _write_record(KeyRecord(key_id, store, _absolute(gallery), created=_now()))
    except MissingKeyError:
        delete_key(store, key_id)  # not used by anything yet: no gallery was created
        raise
    return store, key


def _store_new_key(key_id: str) -> tuple[str, bytes]:
    key = random_key()
    preferred = os.environ.get("ONESHOT_KEY_STORE", "").strip().lower()
    if preferred not in ("", *STORES):
        raise InputError(f"ONESHOT_KEY_STORE must be keyring or file, not {preferred!r}")
    if preferred != "file":
        backend, problem = _secure_keyring()
        if backend is not None:
            try:
                backend.set_password(KEYRING_SERVICE, key_id, _encode(key))
                stored = backend.get_password(KEYRING_SERVICE, key_id)
            except Exception as exc:  # any backend failure: locked, no D-Bus, denied
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if stored == _encode(key):
                    return "keyring", key
                raise MissingKeyError(f"the gallery key written to the system keyring ({_backend_name(backend)}) "
                                      "does not read back; no gallery was created")
        if preferred == "keyring":
            raise MissingKeyError(f"cannot store the gallery key in the system keyring ({problem})")
        log.info("no usable system keyring (%s): the gallery key goes to a key file in %s", problem, key_folder())
    _write_key_file(key_id, key)
    if _read_key_file(key_id) != key:
        raise MissingKeyError(f"the gallery key written to {_key_path(key_id)} does not read back; no gallery was "
                              "created")
    return "file", key


def keyring_name() -> str:
    """The store that holds this user's "keyring" keys, in words, for ``gallery status``."""
    try:
        backend = _keyring()
    except ImportError:
        return "the system keyring (the keyring package is not installed here)"
    if _is_secure(backend):
        return "the system keyring"
    return f"a {_backend_name(backend)} keyring backend, not the system keyring"


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


def delete_key(store: str, key_id: str) -> bool:
    """Forget a key no gallery uses any more, and its record; False, with a warning, when it could
    not be (best effort: a leftover key opens nothing)."""
    try:
        if store == "keyring":
            _keyring().delete_password(KEYRING_SERVICE, key_id)
        else:
            os.unlink(_key_path(key_id))
        _record_path(key_id).unlink(missing_ok=True)
    except Exception as exc:
        log.warning("the gallery key %s… could not be deleted (%s)", key_id[:8], exc)
        return False
    return True


def retire_key(store: str, key_id: str, gallery: str) -> None:
    """Mark a key its gallery no longer uses as retired, and keep it: copies of the gallery made
    before still need it. A record that cannot be written is a warning: the key itself is kept."""
    record = read_record(key_id) or KeyRecord(key_id, store, None)
    try:
        _write_record(KeyRecord(key_id, store, record.gallery or _absolute(gallery), record.created, _now()))
    except MissingKeyError as exc:
        log.warning("the old gallery key %s… is kept but could not be marked retired (%s)", key_id[:8], exc)


def stored_keys() -> list[KeyRecord]:
    """Every key the key folder knows of: its records, and key files that have none (made before
    records were kept), oldest first."""
    folder = key_folder()
    if not folder.is_dir():
        return []
    records = {}
    for path in folder.glob("*.json"):
        record = read_record(path.stem) if path.stem.isalnum() else None
        if record is not None:
            records[record.key_id] = record
    for path in folder.glob("*.key"):
        if path.stem.isalnum() and path.stem not in records:
            records[path.stem] = KeyRecord(path.stem, "file", None)
    return sorted(records.values(), key=lambda record: (record.created or "", record.key_id))


def read_record(key_id: str) -> KeyRecord | None:
    """The record of ``key_id``; None when there is none or it is unreadable (a warning)."""
    path = _record_path(key_id)
    try:
        values = json.loads(path.read_text("utf-8")) if path.stat().st_size < 65536 else None
        record = KeyRecord(key_id, values["store"], values["gallery"], values.get("created"), values.get("retired"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("%s: not a readable OneShot key record (%s)", path, exc)
        return None
    if record.store not in STORES or not isinstance(record.gallery, str):
        log.warning("%s: not a OneShot key record", path)
        return None
    return record


def _write_record(record: KeyRecord) -> None:
    """Write a key's record whole (a temporary file renamed over it), then read it back."""
    folder = key_folder()
    path = _record_path(record.key_id)
    temporary = folder / f".{record.key_id}.{secrets.token_hex(8)}.json.tmp"
    values = {"store": record.store, "gallery": record.gallery, "created": record.created, "retired": record.retired}
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(values, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        _sync_folder(folder)
    except OSError as exc:
        raise MissingKeyError(f"cannot write the gallery key record {path} ({exc.strerror or exc})") from None
    if read_record(record.key_id) != record:
        raise MissingKeyError(f"the gallery key record {path} does not read back")


def _record_path(key_id: str) -> Path:
    return _key_path(key_id).with_suffix(".json")


def _absolute(gallery: str) -> str:
    """A gallery file's absolute path (so a record made from another folder still finds it); a URL as given."""
    return gallery if "://" in gallery else os.path.abspath(gallery)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _keyring():
    import keyring

    return keyring.get_keyring()


def _secure_keyring():
    """The OS's secure keyring backend, or None and why there is none.

    A chainer counts when the backend it writes to (its first) is secure; that one is then
    used directly, so a plaintext file further down the chain is never written."""
    problem = _keyring_problem()
    if problem is not None:
        return None, problem
    backend = _keyring()
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        backend = backend.backends[0]
    if _is_secure(backend):
        return backend, None
    return None, f"the keyring backend is {_backend_name(backend)}, not one of the OS's secure stores"


def _is_secure(backend) -> bool:
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends) and _is_secure(backend.backends[0])
    module = type(backend).__module__
    return any(module == name or module.startswith(name + ".") for name in SECURE_BACKENDS)


def _backend_name(backend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _keyring_problem() -> str | None:
    """Why no keyring can be read here, or None when one can (perhaps not a secure one)."""
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
    """Write the key to a temporary file and link it into place: a key file is whole or absent,
    and an existing one (another program's key) is never replaced."""
    folder = key_folder()
    path = _key_path(key_id)
    temporary = folder / f".{key_id}.{secrets.token_hex(8)}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(fd, "w") as stream:
                stream.write(_encode(key) + "\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.link(temporary, path)
        finally:
            os.unlink(temporary)
        _sync_folder(folder)
    except OSError as exc:
        raise MissingKeyError(f"cannot write the gallery key file {path} ({exc.strerror or exc})") from None


def _sync_folder(folder: Path) -> None:
    """Make the new key file's name durable (POSIX; Windows has no folder handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
