"""``oneshot detect | embed | verify | info | bench``: faces in images, no gallery involved."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import NoFaceError
from ..vision.imaging import load_image
from .common import PROVIDER, at_least, positive_number  # option types
from .common import (LIVENESS_HELP, assessment_document, common_options, each_image, face_document,
                     live_or_unchecked, load_pipeline, model_options, print_faces, resolved_settings, tau_in_force)


def register(commands) -> None:
    parents = [common_options(), model_options()]
    detect = commands.add_parser("detect", parents=parents, help="find faces in images")
    detect.add_argument("images", nargs="+", metavar="IMAGE")
    detect.add_argument("--draw", type=Path, metavar="DIR", help="also write each image with its faces drawn into DIR")
    detect.set_defaults(run=run_detect)

    embed = commands.add_parser("embed", parents=parents, help="faces and their 128-d descriptors")
    embed.add_argument("images", nargs="+", metavar="IMAGE")
    embed.set_defaults(run=run_embed)

    verify = commands.add_parser("verify", parents=parents, help="are the largest faces of two images one person?")
    verify.add_argument("image_a", metavar="IMAGE_A")
    verify.add_argument("image_b", metavar="IMAGE_B")
    verify.add_argument("--tau", type=positive_number, default=None, help="distance threshold (default from the embedder manifest)")
    verify.add_argument("--liveness", action="store_true", help=LIVENESS_HELP)
    verify.set_defaults(run=run_verify)

    info = commands.add_parser("info", parents=[common_options()], help="versions, execution providers and models")
    info.add_argument("--provider", **PROVIDER)
    info.set_defaults(run=run_info)

    bench = commands.add_parser("bench", parents=parents, help="time each stage on this machine")
    bench.add_argument("--image", type=Path, default=None, help="a frame with one face (default: the bundled sample)")
    bench.add_argument("--repeat", type=at_least(1), default=30, help="timed runs per stage (default 30)")
    bench.add_argument("--no-reference", action="store_true", help="skip timing dlib's pipeline even if installed")
    bench.add_argument("--matrix", action="store_true",
                       help="every stage for 1, 4 and 16 faces at 480p, 720p and 1080p (a few minutes)")
    bench.set_defaults(run=run_bench)


def _run_faces(args, with_embeddings: bool) -> int:
    pipeline = load_pipeline(args)
    documents = []
    try:
        for path, image in each_image(args.images):
            if with_embeddings:
                faces = [face_document(r.face, embedding=[float(v) for v in r.embedding])
                         for r in pipeline.analyse(image)]
            else:
                found = pipeline.find_faces(image)
                faces = [face_document(face) for face in found]
                if args.draw:
                    from ..vision.drawing import write_drawing

                    write_drawing(image, found, args.draw)
            documents.append({"image": path, "faces": faces})
            if not args.json:
                print_faces(path, faces)
    finally:  # the images that were read are reported even when others were not
        if args.json:
            print(json.dumps(documents))
    return 0


def run_detect(args) -> int:
    return _run_faces(args, with_embeddings=False)


def run_embed(args) -> int:
    return _run_faces(args, with_embeddings=True)


def run_verify(args) -> int:
    from ..vision.embed import distance, same_person

    pipeline = load_pipeline(args)
    tau = tau_in_force(args, pipeline)
    faces = []
    for path in (args.image_a, args.image_b):
        results = pipeline.analyse(load_image(path), liveness=args.liveness)
        if not results:
            raise NoFaceError(path)
        faces.append(max(results, key=lambda r: r.face.area))
    d = distance(faces[0].embedding, faces[1].embedding)
    # the stricter face's condition decides: a masked face needs stronger evidence than a clear one
    tau_used = pipeline.condition_taus.pair_tau(faces[0].condition, faces[1].condition, tau)
    live = all(live_or_unchecked(face) for face in faces)
    same = live and same_person(d, tau_used)
    if args.json:
        print(json.dumps({"distance": round(d, 6), "threshold": tau_used, "same": same,
                          "faces": [assessment_document(face) for face in faces]}))
    else:
        verdict = "same person" if same else "different people"
        conditions = {face.condition.name for face in faces} - {"clear"}
        why = f" ({', '.join(sorted(conditions))} face)" if conditions else ""
        print(f"{verdict}: distance {d:.3f} {'<' if same_person(d, tau_used) else '>='} threshold {tau_used:.3f}{why}")
        if not live:
            print("not the same person as far as this check goes: a face looks like a photo or a screen "
                  f"(liveness {', '.join(f'{face.liveness:.2f}' for face in faces)})")
    return 0


def run_info(args) -> int:
    from ..models.info import collect_info, format_info

    info = collect_info(resolved_settings(args).provider)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def run_bench(args) -> int:
    from ..bench import format_bench, run_benchmark

    if args.matrix:
        from ..bench_matrix import format_matrix, run_matrix

        from ..live.loop import LIVE_LONG_SIDE

        pipeline = load_pipeline(args)
        reports = [run_matrix(pipeline, min(args.repeat, 10), side) for side in (LIVE_LONG_SIDE, None)]
        print(json.dumps(reports, indent=2) if args.json else "\n\n".join(map(format_matrix, reports)))
        return 0
    report = run_benchmark(load_pipeline(args), args.image, args.repeat, reference=not args.no_reference)
    print(json.dumps(report, indent=2) if args.json else format_bench(report))
    return 0
