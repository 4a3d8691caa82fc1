"""``oneshot``: the command line over the core API, and the contract other tools script against.

Human-readable output by default, ``--json`` for scripts. A user's mistake prints one line
on stderr naming the file and the problem and exits 2; a broken installation or an internal
failure exits 1. Never a traceback unless ``--debug`` asks for one.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import InputError, NoFaceError, OneShotError
from .imaging import load_image

log = logging.getLogger("oneshot")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``oneshot`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="oneshot: %(message)s")
    try:
        return args.run(args)
    except OneShotError as error:
        print(f"oneshot: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("oneshot: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # the last line of defence: one line, not a traceback
        if args.debug:
            raise
        print(f"oneshot: internal error: {type(error).__name__}: {error} (rerun with --debug)", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document for scripts")
    common.add_argument("--debug", action="store_true", help="log details and show tracebacks")
    models = argparse.ArgumentParser(add_help=False)
    models.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto",
                        help="execution provider (auto: CUDA when available, else CPU)")
    models.add_argument("--score-threshold", type=float, default=None, metavar="PC",
                        help="drop detections scoring below this (default from the model manifest)")
    models.add_argument("--nms-threshold", type=float, default=None, metavar="IOU",
                        help="suppress boxes overlapping a better one above this IoU")

    parser = argparse.ArgumentParser(prog="oneshot", description="One-shot face recognition.",
                                     parents=[common])
    parser.set_defaults(run=lambda args: parser.print_help() or 0)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    detect = sub.add_parser("detect", parents=[common, models], help="find faces in images")
    detect.add_argument("images", nargs="+", metavar="IMAGE")
    detect.add_argument("--draw", type=Path, metavar="DIR", help="also write each image with its faces drawn into DIR")
    detect.set_defaults(run=run_detect)

    embed = sub.add_parser("embed", parents=[common, models], help="faces and their 128-d descriptors")
    embed.add_argument("images", nargs="+", metavar="IMAGE")
    embed.set_defaults(run=run_embed)

    verify = sub.add_parser("verify", parents=[common, models], help="are the largest faces of two images one person?")
    verify.add_argument("image_a", metavar="IMAGE_A")
    verify.add_argument("image_b", metavar="IMAGE_B")
    verify.add_argument("--tau", type=float, default=None, help="distance threshold (default from the embedder manifest)")
    verify.set_defaults(run=run_verify)

    info = sub.add_parser("info", parents=[common], help="versions, execution providers and models")
    info.add_argument("--provider", choices=("auto", "cuda", "cpu"), default="auto")
    info.set_defaults(run=run_info)

    bench = sub.add_parser("bench", parents=[common, models], help="time each stage on this machine")
    bench.add_argument("--image", type=Path, default=None, help="a frame with one face (default: the bundled sample)")
    bench.add_argument("--repeat", type=int, default=30, help="timed runs per stage (default 30)")
    bench.add_argument("--no-reference", action="store_true", help="skip timing dlib's pipeline even if installed")
    bench.set_defaults(run=run_bench)
    return parser


def _pipeline(args):
    from .pipeline import FacePipeline

    return FacePipeline.load(args.provider, score_threshold=args.score_threshold, nms_threshold=args.nms_threshold)


def _each_image(paths: list[str]):
    """Yield (path, LoadedImage) for readable images; report the others on stderr."""
    failures = 0
    for path in paths:
        try:
            yield path, load_image(path)
        except InputError as error:
            failures += 1
            print(f"oneshot: {error}", file=sys.stderr)
    if failures:
        raise _PartialFailure(failures)


class _PartialFailure(InputError):
    def __init__(self, count: int) -> None:
        super().__init__(f"{count} image(s) could not be read")


def _face_document(face, embedding=None) -> dict:
    document = {
        "box": [round(v, 2) for v in face.box],
        "score": round(face.score, 4),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks],
    }
    if embedding is not None:
        document["embedding"] = [float(v) for v in embedding]
    return document


def _run_faces(args, with_embeddings: bool) -> int:
    pipeline = _pipeline(args)
    documents = []
    try:
        for path, image in _each_image(args.images):
            if with_embeddings:
                faces = [_face_document(r.face, r.embedding) for r in pipeline.analyse(image)]
            else:
                found = pipeline.find_faces(image)
                faces = [_face_document(face) for face in found]
                if args.draw:
                    from .drawing import write_drawing

                    write_drawing(image, found, args.draw)
            documents.append({"image": path, "faces": faces})
            if not args.json:
                _print_faces(path, faces)
    finally:  # the images that were read are reported even when others were not
        if args.json:
            print(json.dumps(documents))
    return 0


def _print_faces(path: str, faces: list[dict]) -> None:
    print(f"{path}: {len(faces)} face{'s' if len(faces) != 1 else ''}" if faces else f"{path}: no face")
    for number, face in enumerate(faces, 1):
        x1, y1, x2, y2 = (round(v) for v in face["box"])
        print(f"  face {number}: box ({x1}, {y1}) - ({x2}, {y2}), score {face['score']:.2f}")


def run_detect(args) -> int:
    return _run_faces(args, with_embeddings=False)


def run_embed(args) -> int:
    return _run_faces(args, with_embeddings=True)


def run_verify(args) -> int:
    from .embed import distance, same_person

    pipeline = _pipeline(args)
    tau = pipeline.tau if args.tau is None else args.tau
    vectors = []
    for path in (args.image_a, args.image_b):
        results = pipeline.analyse(load_image(path))
        if not results:
            raise NoFaceError(path)
        vectors.append(max(results, key=lambda r: r.face.area).embedding)
    d = distance(*vectors)
    same = same_person(d, tau)
    if args.json:
        print(json.dumps({"distance": round(d, 6), "threshold": tau, "same": same}))
    else:
        verdict = "same person" if same else "different people"
        print(f"{verdict}: distance {d:.3f} {'<' if same else '>='} threshold {tau:.3f}")
    return 0


def run_info(args) -> int:
    from .info import collect_info, format_info

    info = collect_info(args.provider)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def run_bench(args) -> int:
    from .bench import format_bench, run_benchmark

    report = run_benchmark(_pipeline(args), args.image, args.repeat, reference=not args.no_reference)
    print(json.dumps(report, indent=2) if args.json else format_bench(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
