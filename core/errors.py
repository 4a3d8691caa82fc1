"""The errors OneShot reports to people, each with a specific, readable message.

Everything a user can cause or fix derives from ``OneShotError``; the command line prints
``str(error)`` as one line and never a traceback for these. ``InputError`` means the input
was wrong (exit code 2); ``ModelError`` means the installation is (exit code 1).
"""

from __future__ import annotations


class OneShotError(Exception):
    """A problem the user can act on; ``str()`` is the whole message."""

    exit_code = 1


class InputError(OneShotError):
    """Bad input from the user: an unreadable image, a face that is not there, ..."""

    exit_code = 2


class ImageError(InputError):
    """An image that cannot be read, with the file it came from."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class NoFaceError(InputError):
    """An image in which a face was required but none was found."""

    def __init__(self, source: str) -> None:
        super().__init__(f"{source}: no face found")
        self.source = source


class CameraError(InputError):
    """A camera, video or image folder that cannot be opened or stops delivering frames.

    ``str()`` is the whole sentence and names the source ("camera 0 not found").
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


class ModelError(OneShotError):
    """A model file that is missing, altered or not the network its manifest describes."""


class RuntimeUnavailableError(OneShotError):
    """ONNX Runtime (or a requested execution provider) cannot be used here."""
