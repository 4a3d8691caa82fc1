"""Every error OneShot reports to people, each with a specific, readable message: one module,
so a newcomer finds them all and the command line maps them to exit codes in one place.

Everything a user can cause or fix derives from ``OneShotError``; the command line prints
``str(error)`` as one line and never a traceback for these. ``InputError`` means the input
was wrong, or a gallery or server the user named cannot be used as it is (exit code 2);
``ModelError``, ``RuntimeUnavailableError`` and ``SelfTestError`` mean the installation is
broken, ``ServerError`` the gallery's server (exit code 1). A gallery's server that cannot be
reached is a ``GalleryError`` (exit code 2): the user fixes the address or the network.
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


class SelfTestError(OneShotError):
    """The installation does not work; the message says at which step."""


class UnknownModelError(InputError):
    def __init__(self, model_id: str, known: list[str]) -> None:
        super().__init__(f"no model {model_id!r}; known embedders: {', '.join(known)}")


class ModelImportError(InputError):
    """A third-party model that cannot be imported; nothing of it is registered."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: cannot import this model: {reason}; nothing was registered")


# -- the gallery ------------------------------------------------------------------------------


class GalleryError(InputError):
    """A gallery that cannot be used: foreign, damaged, from a newer version, on a server that
    cannot be reached, ..."""


class DiskFullError(GalleryError):
    """A write that failed because the disk is full; nothing was changed."""


class ServerError(OneShotError):
    """The gallery's server answered, but with a failure of its own (a permission, its disk, its
    configuration): the server is broken for OneShot, whatever the command asked (exit code 1).
    A server that cannot be reached at all is a ``GalleryError`` (exit code 2)."""


class ReadOnlyGalleryError(GalleryError):
    """A write to a gallery that is read-only (opened so, or on read-only media)."""


class UnknownPersonError(InputError):
    def __init__(self, name: str) -> None:
        super().__init__(f"nobody named {name!r} is enrolled")


class DuplicateNameError(InputError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a person named {name!r} is already enrolled")


class PassphraseNeededError(InputError):
    """A gallery or an export protected by a passphrase, and none was given: ask, then try again."""


class WrongPassphraseError(InputError):
    """The passphrase (or key) does not open this gallery or export; nothing was changed."""


class MissingKeyError(InputError):
    """The gallery's key cannot be found where the gallery says it is; nothing was changed."""


class ArchiveError(InputError):
    """An export file that cannot be imported, and why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")


# -- enrolment --------------------------------------------------------------------------------


class QualityError(InputError):
    """A photo that fails the enrolment gate; the message lists every reason."""

    def __init__(self, source: str, report) -> None:
        super().__init__(f"{source}: cannot enrol this face: " + "; ".join(report.problems))
        self.report = report  # core.vision.quality.QualityReport


class FaceCountError(InputError):
    """Several faces where exactly one is needed; ``faces`` are the ones found (to choose from)."""

    def __init__(self, source: str, count: int, faces: tuple = ()) -> None:
        super().__init__(f"{source}: {count} faces found; only one person may be in the photo "
                         "(or choose one: by its number as detect lists them, by a box around it, or the largest)")
        self.count = count
        self.faces = faces


class FaceChoiceError(InputError):
    """The face asked for is not in the photo: a number out of range, or a box around no face."""


class MaskedSampleError(InputError):
    """A masked sample that is not what it claims: no mask in view, or nobody to add it to."""


class AlreadyEnrolledError(InputError):
    """The face is almost certainly a different enrolled person."""

    def __init__(self, source: str, name: str, d: float) -> None:
        super().__init__(f"{source}: this face is already enrolled as {name!r} (distance {d:.3f}); "
                         "enrol it anyway only if they really are different people (force)")
        self.name = name
        self.distance = d


class NotLiveError(InputError):
    """The face looks like a photo or a screen held up to the camera, not a person."""

    def __init__(self, source: str, score: float, threshold: float) -> None:
        super().__init__(f"{source}: this face looks like a photo or a screen, not a person in front of the camera "
                         f"(liveness {score:.2f}, at least {threshold:.2f} needed); enrol the person themself "
                         "(force)")
        self.score = score


class NotThisPersonError(InputError):
    """A sample added to a person is farther than tau from every sample they have."""

    def __init__(self, source: str, name: str, d: float, tau: float) -> None:
        super().__init__(f"{source}: this face does not look like {name!r} (distance {d:.3f} to their samples, "
                         f"above tau {tau:.2f}); add it only if it really is them (confirm it)")
        self.name = name
        self.distance = d
        self.tau = tau


# -- the command line and training --------------------------------------------------------------


class PartialFailure(InputError):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} image(s) could not be read")


class TrainingDataError(InputError):
    """The data cannot train anything: empty, one person, a folder that went away."""


class TrainingError(OneShotError):
    """Training cannot go on (out of memory, a checkpoint from another run, ...)."""

    exit_code = 2
