"""Opening a file the user named, for reading, only when it is a regular file.

Images, gallery files and exports are all read this way: the kind is checked before opening
(opening a device can have effects of its own) and again on the opened descriptor, in case
the path was swapped in between; O_NONBLOCK makes sure that even then a FIFO cannot block
the open. Each caller words the refusal for its own kind of file.
"""

from __future__ import annotations

import os
import stat


class NotRegularFile(Exception):
    """The path is a directory, device, FIFO or socket; ``mode`` says which."""

    def __init__(self, mode: int) -> None:
        super().__init__(f"not a regular file (mode {stat.filemode(mode)})")
        self.mode = mode


def open_regular(path: str | bytes | os.PathLike) -> tuple[int, os.stat_result]:
    """A read-only, blocking descriptor of ``path`` and its status; ``NotRegularFile`` or ``OSError``
    (``ValueError`` for a name with a NUL byte) otherwise."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(mode)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    descriptor = os.open(path, flags)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegularFile(status.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)  # a regular file: later reads may block as usual
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, status
