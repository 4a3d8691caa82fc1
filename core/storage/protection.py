"""Changing how a local gallery is protected: encrypt, decrypt, or rekey (a new key).

Everything is copied into a new file built beside the gallery and renamed over it
(``SqliteDatabase.replace_with``), so a process killed at any moment leaves the old file
(with its old key) or the new one (with its new key), never a mix. The old key is kept as a
retired key: copies and backups of the file made before still need it. A shared gallery's
key is changed by copying it into a new database (``oneshot gallery copy``).
"""

from __future__ import annotations

import logging

from .copy import new_file_rows
from .repository import Gallery
from .sealing import PassphraseSource, asked_once, forget_stored_key, new_protection, retire_stored_key
from .store import Progress

log = logging.getLogger(__name__)


def reprotect(gallery: Gallery, mode: str, passphrase: PassphraseSource = None,
              progress: Progress | None = None) -> tuple[str, str | None]:
    """Encrypt ``gallery`` under a new key ("key": keyring or key file; "passphrase"), or
    decrypt it ("none"); return what it is now, in words, and what copies of the file made
    before now need (the old key or passphrase; None when it was plain), for a warning.
    Other programs must not have the gallery open: refused if one is writing."""
    db = gallery.database
    db.require_writable()
    action = "decrypt" if mode == "none" else ("rekey" if gallery.encrypted else "encrypt")
    protection, fields = new_protection(mode, asked_once(passphrase), gallery.shown, str(gallery.path))
    replaced = False

    try:
        db.replace_with(action, new_file_rows(gallery, protection, fields, progress, action, fields.description))
        replaced = True
    finally:
        if not replaced:
            forget_stored_key(protection)
    old = gallery.protected_as(protection, fields)
    older_copies = retire_stored_key(old, str(gallery.path))
    log.info("%s: gallery %sed: now %s", gallery.shown, action.rstrip("e"), fields.description)
    return fields.description, older_copies
