"""``oneshot gallery status | encrypt | decrypt | rekey | forget-key | prune`` and ``oneshot history``: keeping
biometric data safe and accounted for."""

from __future__ import annotations

import json
import sys

from .common import common_options, emit, gallery_location, gallery_option, open_gallery, positive_number, \
    progress_printer, resolved_settings
from .passphrases import ask_passphrase

NEW_PASSPHRASE_VARIABLE = "ONESHOT_NEW_PASSPHRASE"
UNSEALED_HISTORY = ("its history is not tamper-evident (no key: anyone with the file can cut or rewrite it; "
                    "`oneshot gallery encrypt` seals it)")


def register(commands) -> None:
    plain = [common_options(), gallery_option()]
    gallery = commands.add_parser("gallery", parents=plain, help="the gallery's encryption and retention")
    actions = gallery.add_subparsers(dest="action", metavar="ACTION", required=True)

    actions.add_parser("status", parents=plain, help="how the gallery is protected, and what it holds").set_defaults(
        run=run_status)
    encrypt = actions.add_parser("encrypt", parents=plain, help="encrypt a plain gallery (atomically)")
    encrypt.add_argument("--passphrase", action="store_true",
                         help=f"protect it with a passphrase (${NEW_PASSPHRASE_VARIABLE}, else asked twice) instead "
                              "of a key in the system keyring or a key file")
    encrypt.set_defaults(run=run_reprotect, mode=None)
    actions.add_parser("decrypt", parents=plain,
                       help="store the gallery unencrypted (atomically; not recommended)").set_defaults(
        run=run_reprotect, mode="none", passphrase=False)
    rekey = actions.add_parser("rekey", parents=plain,
                               help="re-encrypt everything under a new key or passphrase (atomically)")
    which = rekey.add_mutually_exclusive_group()
    which.add_argument("--passphrase", action="store_true", help="a new passphrase (instead of a stored key)")
    which.add_argument("--key", action="store_true", help="a new key in the keyring or a key file (no passphrase)")
    rekey.set_defaults(run=run_reprotect, mode=None)
    forget_key = actions.add_parser("forget-key", parents=[common_options()],
                                    help="delete a retired key, or the key of a gallery that is gone, for good")
    forget_key.add_argument("key_id", metavar="ID", help="the key's id, as `oneshot gallery status` lists it")
    forget_key.add_argument("--yes", action="store_true", help="do not ask (scripts); without it a terminal is asked")
    forget_key.set_defaults(run=run_forget_key)
    copy = actions.add_parser("copy", parents=[common_options()],
                              help="copy a gallery to a new file or an empty PostgreSQL database (atomically)")
    copy.add_argument("source", type=gallery_location, metavar="SRC", help="a gallery file or postgresql:// URL")
    copy.add_argument("destination", type=gallery_location, metavar="DST",
                      help="a new file, or postgresql://user@host/db (an empty database)")
    copy.set_defaults(run=run_copy)
    prune = actions.add_parser("prune", parents=plain,
                               help="forget everyone not seen for N days (the retention period), irrecoverably")
    prune.add_argument("--days", type=positive_number, default=None, metavar="N",
                       help="default: the retention period in the settings ($ONESHOT_RETENTION_DAYS)")
    prune.set_defaults(run=run_prune)

    history = commands.add_parser("history", parents=plain,
                                  help="who enrolled, renamed, deleted, exported or imported whom, and when")
    history.add_argument("--last", type=positive_number, default=None, metavar="N", help="only the newest N entries")
    history.set_defaults(run=run_history)


def run_status(args) -> int:
    from ..storage.keys import key_states

    with open_gallery(args, readonly=True) as gallery:
        people = gallery.people()
        samples = sum(person.samples for person in people)
        document = {"gallery": gallery.shown, "protection": gallery.protection_scheme,
                    "described": gallery.protection, "people": len(people), "samples": samples,
                    "history_tamper_evident": gallery.history_is_sealed}
        transit = gallery.in_transit
    text = f"{document['gallery']}: {document['described']}; {len(people)} people, {samples} samples"
    if not gallery.history_is_sealed:
        text += f"; {UNSEALED_HISTORY}"
    if transit is not None:
        document["in_transit"] = transit
        text += f"; to the server: {transit}"
    spare = [state for state in key_states() if state.state != "in use"]
    document["spare_keys"] = [{"id": state.record.key_id, "store": state.record.store, "state": state.state,
                               "gallery": state.record.gallery, "retired": state.record.retired, "why": state.why}
                              for state in spare]
    for state in spare:
        text += f"\n{state.state} key {state.record.key_id} ({state.record.store}): {state.why}"
    if any(state.state in ("retired", "orphaned") for state in spare):
        text += "\n(`oneshot gallery forget-key ID` deletes one for good, once no copy of its gallery needs it)"
    emit(args, document, text)
    return 0


def run_forget_key(args) -> int:
    from ..storage import keystore
    from ..errors import InputError
    from ..storage.keys import forgettable_key

    state = forgettable_key(args.key_id)
    print(f"oneshot: the {state.state} key {args.key_id} ({state.why}) is deleted for good: any copy of the gallery "
          "still encrypted under it can never be opened again", file=sys.stderr)
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise InputError("give --yes to delete the key (no terminal to ask at): nothing was deleted")
        if input("Delete it? [y/N] ").strip().lower() not in ("y", "yes"):
            print("oneshot: the key is kept", file=sys.stderr)
            return 0
    if not keystore.delete_key(state.record.store, args.key_id):
        return 1
    emit(args, {"deleted": args.key_id}, f"deleted the gallery key {args.key_id}")
    return 0


def run_reprotect(args) -> int:
    with open_gallery(args) as gallery:
        mode = args.mode or _target_mode(args, gallery.protection_scheme)
        if mode == "none":
            print("oneshot: warning: the gallery will be stored unencrypted: anyone who copies the file sees every "
                  "face, name and vector", file=sys.stderr)
        passphrase = None
        if mode == "passphrase":
            passphrase = ask_passphrase(NEW_PASSPHRASE_VARIABLE, "New gallery passphrase", new=True)
        described, older_copies = gallery.reprotect(mode, passphrase, progress_printer(args, "copying"))
        if older_copies is not None:
            print(f"oneshot: warning: {older_copies}", file=sys.stderr)
        emit(args, {"gallery": gallery.shown, "protection": gallery.protection_scheme, "described": described},
             f"{gallery.shown}: {described}")
    return 0


def _target_mode(args, current: str) -> str:
    """encrypt / rekey: a passphrase if asked for, a stored key if asked for, else the same kind as now."""
    if args.passphrase:
        return "passphrase"
    if getattr(args, "key", False) or current in ("none", "keyring", "file"):
        return "key"
    return "passphrase"


def run_copy(args) -> int:
    from ..storage.copy import copy_gallery
    from ..storage.location import open_gallery_at, shown_location
    from .passphrases import gallery_passphrase

    with open_gallery_at(args.source, readonly=True,
                         passphrase=lambda: gallery_passphrase(f"Passphrase of {shown_location(args.source)}")) as source:
        described = copy_gallery(source, args.destination, progress_printer(args, "copying"))
    emit(args, {"destination": shown_location(args.destination), "described": described},
         f"copied to {shown_location(args.destination)}: {described}")
    return 0


def run_prune(args) -> int:
    days = args.days if args.days is not None else resolved_settings(args).retention_days
    if days is None:
        from ..errors import InputError

        raise InputError("no retention period: give --days N or set one in the settings (ONESHOT_RETENTION_DAYS)")
    with open_gallery(args) as gallery:
        forgotten = gallery.forget_unseen(days)
    emit(args, {"days": days, "forgotten": forgotten},
         f"forgot {len(forgotten)} people not seen for {days:g} days" + (f": {', '.join(forgotten)}" if forgotten
                                                                          else ""))
    return 0


def run_history(args) -> int:
    from ..storage.names import printable

    with open_gallery(args, readonly=True) as gallery:
        entries, broken = gallery.history()
        sealed = gallery.history_is_sealed
    if args.last is not None:
        entries = entries[-int(args.last):]
    if args.json:
        print(json.dumps({"entries": [vars(entry) for entry in entries], "intact": broken is None,
                          "broken_at": None if broken is None else int(broken),
                          "reason": None if broken is None else broken.reason, "tamper_evident": sealed}))
        return 0 if broken is None else 1
    for entry in entries:
        subject = f" {printable(entry.subject)}" if entry.subject else ""
        detail = f": {printable(entry.detail)}" if entry.detail else ""
        print(f"{entry.at}  {printable(entry.user)} ({printable(entry.program)})  {entry.action}{subject}{detail}")
    if not sealed:
        print(f"oneshot: note: {UNSEALED_HISTORY}", file=sys.stderr)
    if broken is not None:
        print(f"oneshot: warning: the history was altered: {broken.reason}", file=sys.stderr)
        return 1
    return 0
