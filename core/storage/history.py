"""The gallery's history: who did what to whom, and when, kept in the gallery itself.

Accountability for biometric data: every enrolment, added sample, rename, deletion, export,
import, model switch and change of encryption adds one entry, in the same transaction as the
change it records, so the history never misses a committed change nor shows one that was
rolled back. It holds no biometric data: the person's name and the detail (a file name, a
sample id) are sealed like every other name in an encrypted gallery. SQLite triggers refuse
any UPDATE or DELETE of an entry, and each entry carries a SHA-256 chain over the entries
before it, so an entry removed or changed behind SQLite's back shows up in ``verify_chain``.

A chain alone cannot show a cut end (the newest entries, or all of them, deleted), and
anyone can recompute it. So an encrypted gallery also keeps the chain's anchor (how many
entries, and the newest link) sealed under its key in the protection row, rewritten with
every entry: a cut, an entry added, or a recomputed chain no longer matches it, and only
the key's holder can write a new one. A plain gallery has no key: its history shows
accidents, not tampering (``oneshot history`` says so).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .. import clock
from .sealing import Damaged, PlainFields, cell

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
    """The account the process runs as: from its uid on POSIX, never from ``USER``/``LOGNAME``,
    which anyone can set to blame someone else."""
    if sys.platform == "win32":
        try:
            return os.getlogin()
        except OSError:  # no console session (a service)
            return os.environ.get("USERNAME") or "unknown user"
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (a container)
        return f"uid {os.getuid()}"


def chain_digest(previous: bytes, at: str, user: str, program: str, action: str, subject: str, detail: str) -> bytes:
    """The entry's link: SHA-256 over the previous link and the entry's clear values."""
    digest = hashlib.sha256(previous)
    for value in (at, user, program, action, subject, detail):
        encoded = value.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(4, "big") + encoded)
    return digest.digest()


@dataclass(frozen=True)
class Anchor:
    """The chain's head as last written by the key's holder: the entry count and newest link."""
    count: int
    head: bytes

    def to_bytes(self) -> bytes:
        return self.count.to_bytes(8, "big") + self.head

    @classmethod
    def from_bytes(cls, data: bytes) -> Anchor:
        if len(data) != 8 + len(GENESIS):
            raise ValueError("an anchor is 40 bytes")
        return cls(int.from_bytes(data[:8], "big"), data[8:])


class ChainBreak(int):
    """The id of the first entry that does not follow (or, after a cut, of the first one
    missing), with why in words: an int, so callers that only show the id keep working."""

    reason: str

    def __new__(cls, entry_id: int, reason: str) -> ChainBreak:
        broken = super().__new__(cls, entry_id)
        broken.reason = reason
        return broken


ANCHOR = "history"  # the protection row's parameter that holds the sealed anchor
ANCHOR_CONTEXT = "protection.history"  # what the sealed anchor is bound to
MISSING_ANCHOR = "its sealed anchor is missing (removed behind the gallery's back)"


def verify_chain(entries: list[tuple[HistoryEntry, bytes]], anchor: Anchor | str | None = None) -> ChainBreak | None:
    """The first break in the chain, or None if intact. ``anchor``: the sealed head of an
    encrypted gallery, or why it could not be read (a string); None for a plain gallery."""
    previous = GENESIS
    for entry, link in entries:
        expected = chain_digest(previous, entry.at, entry.user, entry.program, entry.action, entry.subject,
                                entry.detail)
        if link != expected:
            return ChainBreak(entry.id, f"entry {entry.id} does not follow from those before it")
        previous = link
    if anchor is None:
        return None
    after_last = entries[-1][0].id + 1 if entries else 1
    if isinstance(anchor, str):
        return ChainBreak(after_last, f"the history cannot be vouched for: {anchor}")
    if anchor.count > len(entries):
        return ChainBreak(after_last, f"{anchor.count - len(entries)} of its {anchor.count} entries were cut "
                                      f"from the end (entry {after_last} on)")
    if anchor.count < len(entries):
        first = entries[anchor.count][0].id
        return ChainBreak(first, f"entry {first} and those after it were added without the gallery's key")
    if anchor.head != previous:
        last = entries[-1][0].id
        return ChainBreak(last, "the chain was recomputed without the gallery's key (its sealed head differs)")
    return None


class HistoryBook:
    """The history of one gallery, on its database port: entries appended in the caller's
    transaction with the anchor resealed beside them, and the whole read back and verified."""

    def __init__(self, db, fields: PlainFields) -> None:
        self._db, self._fields = db, fields

    def record(self, action: str, subject: str = "", detail: str = "") -> None:
        """Append one entry inside the caller's transaction, and seal the new head."""
        at, user, program = clock.stamp(), current_user(), PROGRAM["name"]
        count, previous = self._head()
        link = chain_digest(previous, at, user, program, action, subject, detail)
        entry_id = self._db.insert_id("history")
        self._db.execute(self._db.sql.insert_history, (
            entry_id, at, user, program, action, self._fields.seal(subject, cell("history", "subject", entry_id)),
            self._fields.seal(detail, cell("history", "detail", entry_id)), link))
        if count is not None:
            self._seal(Anchor(count + 1, link))

    def anchor_as_is(self) -> None:
        """Seal the chain's head as it stands: for a new gallery (so a missing anchor shows), and
        once for a history kept before anchors (trusted on its first upgrade; from then on any
        cut shows)."""
        count, head = self._head()
        if count is not None:
            self._seal(Anchor(count, head))

    def _head(self) -> tuple[int | None, bytes]:
        """(entries so far, newest link). The count only where an anchor needs it: a plain
        gallery has no key to seal one with, and counting costs a scan of the history."""
        if self._fields.encrypted:
            count, head = self._db.execute(self._db.sql.history_head)[0]
        else:
            count, head = None, (self._db.execute(self._db.sql.last_link) or [(None,)])[0][0]
        return count, bytes(head) if isinstance(head, (bytes, memoryview)) else GENESIS

    def _seal(self, anchor: Anchor) -> None:
        """Write ``anchor``, sealed under the gallery's key, into the protection row's parameters."""
        (parameters,) = self._db.execute(self._db.sql.protection_parameters)[0]
        values = json.loads(parameters)
        values[ANCHOR] = self._fields.seal_bytes(anchor.to_bytes(), ANCHOR_CONTEXT).hex()
        self._db.execute(self._db.sql.set_protection_parameters, (json.dumps(values),))

    def anchor(self) -> Anchor | str | None:
        """The sealed anchor; why it cannot be trusted, in words; None for a plain gallery or
        one kept before anchors (schema < 4: its upgrading write anchors it)."""
        if not self._fields.encrypted:
            return None
        rows = self._db.execute(self._db.sql.protection_parameters)
        try:
            sealed = json.loads(rows[0][0]).get(ANCHOR) if rows and isinstance(rows[0][0], str) else None
            if sealed is None:
                return MISSING_ANCHOR if self._db.schema_version() >= 4 else None
            return Anchor.from_bytes(self._fields.open_bytes(bytes.fromhex(sealed), ANCHOR_CONTEXT,
                                                             "its sealed anchor"))
        except Damaged as exc:
            return str(exc)
        except (ValueError, TypeError, AttributeError):
            return "its sealed anchor is malformed"

    def read(self, damaged: Callable[[str], Exception]) -> tuple[list[HistoryEntry], ChainBreak | None]:
        """Every entry, oldest first, and the first break in the chain (None: intact). A subject
        or detail that fails to open reads as "(damaged)", and the chain shows where."""
        anchor = self.anchor()
        entries = []
        for entry_id, at, user, program, action, subject, detail, link in self._db.execute(self._db.sql.history):
            try:
                entry = HistoryEntry(int(entry_id), *(self._fields.text(value, None, "a history entry's field")
                                                      for value in (at, user, program, action)),
                                     self._opened(subject, "subject", entry_id), self._opened(detail, "detail", entry_id))
            except (Damaged, TypeError, ValueError):
                raise damaged(f"history entry {entry_id!r} is malformed") from None
            entries.append((entry, bytes(link) if isinstance(link, memoryview) else link))
        return [entry for entry, _ in entries], verify_chain(entries, anchor)

    def _opened(self, value, column: str, entry_id: int) -> str:
        try:
            return self._fields.text(value, cell("history", column, entry_id), f"the {column} of history entry "
                                                                              f"{entry_id}")
        except Damaged:
            return "(damaged)"
