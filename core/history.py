"""The gallery's history: who did what to whom, and when, kept in the gallery itself.

Accountability for biometric data: every enrolment, added sample, rename, deletion, export,
import, model switch and change of encryption adds one entry, in the same transaction as the
change it records, so the history never misses a committed change nor shows one that was
rolled back. It holds no biometric data: the person's name and the detail (a file name, a
sample id) are sealed like every other name in an encrypted gallery. SQLite triggers refuse
any UPDATE or DELETE of an entry, and each entry carries a SHA-256 chain over the entries
before it, so an entry removed or changed behind SQLite's back shows up in ``verify_chain``.
"""

from __future__ import annotations

import getpass
import hashlib
from dataclasses import dataclass

PROGRAM = {"name": "oneshot"}  # set once by the launcher: "oneshot gui", "oneshot forget", ...
GENESIS = b"\x00" * 32

ACTIONS = ("enrol", "add sample", "remove sample", "add negative", "remove negative", "rename", "forget",
           "export", "import", "model switch", "re-embed", "encrypt", "decrypt", "rekey", "retention")


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    at: str
    user: str
    program: str
    action: str
    subject: str
    detail: str


def set_program(name: str) -> None:
    """Name the program recorded as making changes ("oneshot gui", "oneshot enroll")."""
    PROGRAM["name"] = name


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "unknown user"


def chain_digest(previous: bytes, at: str, user: str, program: str, action: str, subject: str, detail: str) -> bytes:
    """The entry's link: SHA-256 over the previous link and the entry's clear values."""
    digest = hashlib.sha256(previous)
    for value in (at, user, program, action, subject, detail):
        encoded = value.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(4, "big") + encoded)
    return digest.digest()


def verify_chain(entries: list[tuple[HistoryEntry, bytes]]) -> int | None:
    """The id of the first entry whose link does not follow from those before it; None if intact."""
    previous = GENESIS
    for entry, link in entries:
        expected = chain_digest(previous, entry.at, entry.user, entry.program, entry.action, entry.subject,
                                entry.detail)
        if link != expected:
            return entry.id
        previous = link
    return None
