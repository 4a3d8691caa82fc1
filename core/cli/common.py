"""Pieces every ``oneshot`` command shares: options, model loading, image loops, JSON shapes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from ..imaging import load_image


def common_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--json", action="store_true", help="print JSON for scripts")
    options.add_argument("--debug", action="store_true", help="log details and show tracebacks")
    return options


def model_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto",
                         help="execution provider (auto: CUDA when available, else CPU)")
    options.add_argument("--score-threshold", type=float, default=None, metavar="PC",
                         help="drop detections scoring below this (default from the model manifest)")
    options.add_argument("--nms-threshold", type=float, default=None, metavar="IOU",
                         help="suppress boxes overlapping a better one above this IoU")
    return options


def gallery_option() -> argparse.ArgumentParser:
    option = argparse.ArgumentParser(add_help=False)
    option.add_argument("--gallery", type=Path, default=None, metavar="PATH",
                        help="gallery file (default: $ONESHOT_GALLERY, else gallery.db in the user data folder)")
    return option


def open_gallery(args):
    from ..gallery import Gallery

    return Gallery(args.gallery)


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
    from ..pipeline import FacePipeline

    return FacePipeline.load(args.provider, score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)


class PartialFailure(InputError):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} image(s) could not be read")


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


def print_faces(path: str, faces: list[dict]) -> None:
    """The human-readable form of one image's faces."""
    print(f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''}" if faces else f"{path}: no face")
    for number, face in enumerate(faces, 1):
        x1, y1, x2, y2 = (round(v) for v in face["box"])
        line = f"  face {number}: box ({x1}, {y1}) - ({x2}, {y2}), score {face['score']:.2f}"
        if "name" in face:
            who = face["name"] or "unknown"
            line += f": {who}" + (f" (distance {face['distance']:.3f})" if face["distance"] is not None else "")
        print(line)
