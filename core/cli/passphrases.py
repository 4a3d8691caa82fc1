"""Where the command line gets a passphrase: an environment variable, else the terminal.

Never a command-line argument: those show in ``ps``, shell history and logs. A script sets
the variable; a person at a terminal is asked (twice when a new passphrase is chosen, so a
typo cannot lock them out); with neither, the command stops with a message saying which
variable to set, instead of waiting for input nobody will type.
"""

from __future__ import annotations

import getpass
import os
import sys

from ..errors import InputError

GALLERY_VARIABLE = "ONESHOT_PASSPHRASE"
EXPORT_VARIABLE = "ONESHOT_EXPORT_PASSPHRASE"


def ask_passphrase(variable: str, prompt: str, new: bool = False) -> str:
    """The passphrase from ``$variable``, else typed at the terminal; ``InputError`` when neither."""
    value = os.environ.get(variable)
    if value:
        return value
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise InputError(f"{prompt}: a passphrase is needed; set {variable} (no terminal to ask at)")
    first = getpass.getpass(f"{prompt}: ")
    if not first:
        raise InputError("no passphrase was given: nothing was changed")
    if new and getpass.getpass("Repeat the passphrase: ") != first:
        raise InputError("the two passphrases differ: nothing was changed")
    return first


def gallery_passphrase(prompt: str = "Gallery passphrase", new: bool = False) -> str:
    return ask_passphrase(GALLERY_VARIABLE, prompt, new)


def export_passphrase(prompt: str = "Export passphrase", new: bool = False) -> str:
    return ask_passphrase(EXPORT_VARIABLE, prompt, new)
