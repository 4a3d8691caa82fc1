"""Pieces every ``oneshot`` command shares: options, model loading, image loops, JSON shapes."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..errors import InputError, PartialFailure
from ..settings import PROVIDERS
from ..vision.imaging import load_image


# The options that may come before the command name as well as after it (``oneshot --json
# detect X`` and ``oneshot detect --json X``), with their defaults. Every parser that offers one
# leaves it out of the namespace unless it is given (argparse.SUPPRESS): argparse copies a
# command's defaults over the namespace, which would silently drop a value given before the
# command's name. ``finish_arguments`` fills these defaults in after parsing and refuses a
# global option the command does not take.
SHARED_DEFAULTS = {"json": False, "debug": False, "gallery": None, "provider": None,
                   "score_threshold": None, "nms_threshold": None}
# ``add_argument("--provider", **PROVIDER)`` for the commands that take no other model option.
PROVIDER = {"choices": PROVIDERS, "default": argparse.SUPPRESS,
            "help": "execution provider (auto: CUDA when available, else CPU; default: ONESHOT_PROVIDER, "
                    "the settings file, else auto)"}
# Webcam indices: OpenCV reads 100 and up as a capture backend plus an index.
MAX_CAMERA_INDEX = 99
MAX_DETECT_SIDE = 4096


def common_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    options.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="log details and show tracebacks")
    return options


def model_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--provider", **PROVIDER)
    options.add_argument("--score-threshold", type=probability, default=argparse.SUPPRESS, metavar="PC",
                         help="drop detections scoring below this, 0 to 1 (default from the model manifest)")
    options.add_argument("--nms-threshold", type=probability, default=argparse.SUPPRESS, metavar="IOU",
                         help="suppress boxes overlapping a better one above this IoU, 0 to 1")
    return options


def gallery_location(text: str) -> Path | str:
    """A gallery file's path, or a shared gallery's ``postgresql://`` URL kept as written."""
    return text if "://" in text else Path(text)


def gallery_option() -> argparse.ArgumentParser:
    option = argparse.ArgumentParser(add_help=False)
    option.add_argument("--gallery", type=gallery_location, default=argparse.SUPPRESS, metavar="PATH",
                        help="gallery file, or a shared gallery postgresql://user@host/db (default: $ONESHOT_GALLERY, else gallery.db in the user data folder)")
    return option


def global_options() -> argparse.ArgumentParser:
    """Every shared option, for the top-level parser (before the command's name)."""
    return argparse.ArgumentParser(add_help=False, parents=[common_options(), model_options(), gallery_option()])


def finish_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Refuse shared options the chosen command does not take, then fill in the defaults.

    Each command's parser records the shared options it takes (``accept_shared_options``);
    a shared option in the namespace that its command does not take can only have been given
    before the command's name, and is refused rather than silently ignored.
    """
    accepted = vars(args).pop("_shared_options", frozenset(SHARED_DEFAULTS))
    command = vars(args).pop("_command", "")
    args.program = f"oneshot {command}".strip()  # what the gallery's history records as making a change
    for name in SHARED_DEFAULTS:
        if hasattr(args, name) and name not in accepted:
            flag = "--" + name.replace("_", "-")
            parser.error(f"argument {flag}: not an option of `oneshot {command}`")
    for name, default in SHARED_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def accept_shared_options(subparsers: argparse._SubParsersAction, prefix: str = "") -> None:
    """Record on every command's parser (nested ones too) its name and the shared options it takes."""
    for name, parser in subparsers.choices.items():
        taken = frozenset(action.dest for action in parser._actions if action.dest in SHARED_DEFAULTS)
        parser.set_defaults(_shared_options=taken, _command=f"{prefix}{name}")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                accept_shared_options(action, f"{prefix}{name} ")


# Numbers are checked while parsing: argparse then exits 2 with "argument --x: <this message>".

def _parsed(text: str, kind, expected: str):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def probability(text: str) -> float:
    """A threshold or probability: a number from 0 to 1 (not NaN)."""
    value = _parsed(text, float, "a number from 0 to 1")
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def share(text: str) -> float:
    """A share strictly between 0 and 1."""
    value = _parsed(text, float, "a number between 0 and 1")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (both excluded), got {text!r}")
    return value


def positive_number(text: str) -> float:
    """A finite number above 0 (a distance threshold, a margin, a learning rate)."""
    value = _parsed(text, float, "a number above 0")
    if not (value > 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    return value


def non_negative_number(text: str) -> float:
    """A finite number, 0 or more."""
    value = _parsed(text, float, "a number, 0 or more")
    if not (value >= 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number, 0 or more, got {text!r}")
    return value


def at_least(minimum: int):
    """A whole number of ``minimum`` or more (a count, a number of epochs, ...)."""

    def whole_number(text: str) -> int:
        value = _parsed(text, int, f"a whole number of at least {minimum}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got {text!r}")
        return value

    whole_number.__name__ = f"at_least_{minimum}"
    return whole_number


def seed(text: str) -> int:
    """A random seed every library takes: 0 to 2**32 - 1."""
    value = _parsed(text, int, "a whole number from 0 to 4294967295")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 4294967295, got {text!r}")
    return value


def detect_side(text: str) -> int:
    """The detector's longest input side: 0 (the still-photo rule) or 32 to ``MAX_DETECT_SIDE`` pixels."""
    value = _parsed(text, int, f"0, or a whole number of pixels from 32 to {MAX_DETECT_SIDE}")
    if value != 0 and not 32 <= value <= MAX_DETECT_SIDE:
        raise argparse.ArgumentTypeError(f"expected 0, or a whole number of pixels from 32 to {MAX_DETECT_SIDE}, "
                                         f"got {text!r}")
    return value


def video_source(text: str) -> str:
    """A webcam index (0 to ``MAX_CAMERA_INDEX``), a video file or an image folder, as typed."""
    digits = text.strip().removeprefix("-")
    if digits.isascii() and digits.isdigit() and (text.strip().startswith("-") or int(digits) > MAX_CAMERA_INDEX):
        raise argparse.ArgumentTypeError(f"a webcam index goes from 0 to {MAX_CAMERA_INDEX}, got {text!r} "
                                         f"(for a file of that name, write ./{text.strip()})")
    return text


def resolved_settings(args):
    """The settings in force for this command: its flags > ONESHOT_* variables > the settings file."""
    from ..settings import resolve_settings

    names = ("tau", "score_threshold", "nms_threshold", "provider", "gallery", "live_detector")
    return resolve_settings({name: getattr(args, name, None) for name in names})


def open_gallery(args, readonly: bool = False):
    """The gallery in force; a passphrase, if it has one, from $ONESHOT_PASSPHRASE or the terminal."""
    from ..storage.location import open_gallery_at, shown_location
    from .passphrases import gallery_passphrase

    location = resolved_settings(args).gallery_path()
    return open_gallery_at(location, readonly=readonly,
                           passphrase=lambda: gallery_passphrase(f"Passphrase of the gallery "
                                                                 f"{shown_location(location)}"))


def emit(args, document, text: str) -> None:
    """One result: JSON for scripts, the sentence for people."""
    print(json.dumps(document) if args.json else text)


def progress_bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else width
    return "#" * filled + "." * (width - filled)


def progress_printer(args, label: str):
    """A ``(done, total)`` callback redrawing ``label [###...] done/total`` on stderr; silent with --json."""

    def show(done: int, total: int) -> None:
        if not args.json:
            print(f"\r{label} [{progress_bar(done, total)}] {done}/{total}", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    return show


def load_pipeline(args):
    from ..vision.pipeline import FacePipeline

    settings = resolved_settings(args)
    return FacePipeline.load(settings.provider, score_threshold=settings.score_threshold,
                             nms_threshold=settings.nms_threshold, live_detector=settings.live_detector)


def tau_in_force(args, pipeline) -> float:
    """``--tau``, else ONESHOT_TAU or the settings file's, else the model's calibrated tau."""
    return resolved_settings(args).effective_tau(pipeline.tau)


def each_image(paths: list[str]):
    """Yield (path, LoadedImage) for readable images; report the others on stderr.

    Raises ``PartialFailure`` (exit code 2) at the end if any image could not be read.
    """
    failures = 0
    for path in paths:
        try:
            yield path, load_image(path)
        except InputError as error:
            failures += 1
            print(f"oneshot: {error}", file=sys.stderr)
    if failures:
        raise PartialFailure(failures)


def face_document(face, **extra) -> dict:
    """One face as the JSON contract spells it, plus any extra keys."""
    document = {
        "box": [round(v, 2) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks],
    }
    document.update(extra)
    return document


LIVENESS_HELP = ("judge each face live or a photo/screen held up to a camera: a face judged not live is never "
                 "named (off by default for still photos; `watch` follows the app's setting)")


def live_or_unchecked(result) -> bool:
    """Whether a face may be named: judged live, or not checked at all."""
    from ..vision.liveness import LIVE_THRESHOLD

    return result.liveness is None or result.liveness >= LIVE_THRESHOLD


def assessment_document(result, tau: float | None = None) -> dict:
    """A face's condition (and the tau it was decided at), liveness and hint, as JSON spells them."""
    document = {"condition": result.condition.name,
                "live": None if result.liveness is None else live_or_unchecked(result),
                "liveness": None if result.liveness is None else round(result.liveness, 4)}
    if tau is not None:
        document["tau"] = round(tau, 4)
    if result.condition.hint:
        document["hint"] = result.condition.hint
    return document


def print_faces(path: str, faces: list[dict]) -> None:
    """The human-readable form of one image's faces."""
    print(f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''}" if faces else f"{path}: no face")
    for number, face in enumerate(faces, 1):
        x1, y1, x2, y2 = (round(v) for v in face["box"])
        line = f"  face {number}: box ({x1}, {y1}) - ({x2}, {y2}), score {face['score']:.2f}"
        if face.get("live") is False:
            line += f": photo or screen? (liveness {face['liveness']:.2f}), not named"
        elif "name" in face:
            who = face["name"] or ("unknown" if face.get("condition", "clear") == "clear" else f"unknown ({face['condition']})")
            line += f": {who}" + (f" (distance {face['distance']:.3f})" if face["distance"] is not None else "")
            if not face["name"] and face.get("hint"):
                line += f": {face['hint']}"
        print(line)
