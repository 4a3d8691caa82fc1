"""``oneshot models [import | activate | half]``: the embedders a user has, and bringing in or choosing one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..vision.align import TEMPLATES
from ..vision.network_input import channel_values
from .common import PROVIDER
from .common import (common_options, emit, gallery_option, load_pipeline, model_options, open_gallery,
                     progress_printer, resolved_settings)


def register(commands) -> None:
    models = commands.add_parser("models", parents=[common_options()], help="list embedders; activate one")
    models.set_defaults(run=run_models)
    actions = models.add_subparsers(title="actions", metavar="ACTION")
    activate = actions.add_parser("activate", parents=[common_options(), gallery_option()],
                                  help="re-embed the gallery with a model and make it the active one")
    activate.add_argument("model_id", metavar="ID")
    activate.add_argument("--provider", **PROVIDER)
    activate.set_defaults(run=run_activate)
    half = actions.add_parser("half", parents=[common_options(), model_options(), gallery_option()],
                              help="make an FP16 copy of an embedder for the GPU, checked against FP32 on real faces")
    half.add_argument("model_id", nargs="?", metavar="ID", help="the embedder to copy (default: the active one)")
    half.add_argument("--check-on", type=Path, metavar="DIR",
                      help="also check on the faces in this folder (a sub-folder per person), beside the gallery's")
    half.add_argument("--crops", action="store_true", help="the --check-on images are tight face crops (like ORL)")
    half.set_defaults(run=run_half)
    bring = actions.add_parser("import", parents=[common_options(), model_options(), gallery_option()],
                               help="import a third-party ArcFace-style ONNX embedder, checked and calibrated")
    bring.add_argument("file", type=Path, metavar="FILE.onnx")
    bring.add_argument("--licence", required=True, metavar="TEXT",
                       help="the model's licence (recorded in its manifest and shown in About); you answer for it")
    bring.add_argument("--id", dest="model_id", default=None, help="the id to register it under (default: the file's name)")
    bring.add_argument("--calibrate-on", type=Path, metavar="DIR",
                       help="a folder per person to check and calibrate on (default: the gallery's samples)")
    bring.add_argument("--crops", action="store_true", help="the --calibrate-on images are tight face crops")
    bring.add_argument("--template", choices=TEMPLATES, default=None,
                       help="the framing it was trained on (default: from the input size, 112 arcface-112, 150 dlib-150)")
    bring.add_argument("--mean", type=_triple, default=None, metavar="M[,M,M]", help="subtracted from 0-255 pixels (127.5)")
    bring.add_argument("--std", type=_triple, default=None, metavar="S[,S,S]", help="then divided by (127.5)")
    bring.add_argument("--bgr", action="store_true", help="it takes BGR channels (default RGB)")
    bring.set_defaults(run=run_import)


def _say(args, text: str) -> None:
    if not args.json:
        print(text, file=sys.stderr, flush=True)


def _triple(text: str) -> tuple[float, float, float]:
    """One number for all channels, or three, comma-separated."""
    import argparse

    try:
        return channel_values(text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give one number or three comma-separated numbers, not {text!r}") from None


def run_import(args) -> int:
    """Faces to check and calibrate on (DIR or the gallery), then the checked, registered model."""
    import time

    from ..training.data import chips_from_folder, chips_from_gallery
    from ..training.importing import Framing, import_model, sample_chip

    started = time.perf_counter()
    pipeline = load_pipeline(args)

    def faces():
        if not args.calibrate_on:
            with open_gallery(args, readonly=True) as gallery:
                return chips_from_gallery(gallery), "the gallery"
        show = progress_printer(args, "reading faces")
        data = chips_from_folder(args.calibrate_on, pipeline, args.crops,
                                 progress=lambda done, total, _path: show(done, total))
        for path, reason in data.skipped:
            _say(args, f"skipped {path}: {reason}")
        return data, str(args.calibrate_on)

    spec = import_model(args.file, args.licence, faces, sample_chip(pipeline), args.model_id,
                        Framing(args.template, args.mean, args.std, args.bgr))
    seconds = time.perf_counter() - started
    metrics = spec.details["metrics"]
    emit(args, {"model": spec.id, "tau": spec.defaults["tau"], "seconds": round(seconds, 2),
                "input": spec.input, "licence": spec.licence, **metrics},
         f"{spec.id} registered in {seconds:.1f} s (tau {spec.defaults['tau']:.3f}; "
         f"{spec.details['import']['calibration']}).\n"
         f"Put it into service with `oneshot models activate {spec.id}`.")
    return 0


def run_models(args) -> int:
    from ..models.store import active_embedder, embedders

    active = active_embedder().id
    listing = []
    for spec in embedders():
        metrics = spec.details.get("metrics") or {}
        row = {"id": spec.id, "name": spec.details.get("name", spec.source.get("network", "")),
               "parent": spec.details.get("parent"), "created": spec.details.get("created"),
               "tau": spec.defaults["tau"], "active": spec.id == active, "metrics": metrics.get("after", {}),
               "licence": spec.licence}
        if "import" in spec.details:
            row.update(imported=True, shipped_metrics=metrics.get("before", {}), calibration=metrics.get("calibration"),
                       compared_with=spec.details["import"]["compared_with"])
        listing.append(row)
    if args.json:
        print(json.dumps(listing))
        return 0
    for row in listing:
        print(f"{'*' if row['active'] else ' '} {row['id']}  tau {row['tau']:.3f}  {row['name']}" + _lineage(row))
    return 0


def _lineage(row: dict) -> str:
    """Where a model came from and how it measured: a trained one on its held-out people, an
    imported one beside the shipped model on the same faces."""
    if row.get("imported"):
        data, shipped = row["calibration"] or {}, row["shipped_metrics"]
        figures = [f"tau {row['tau']:.3f} vs {shipped['threshold']:.3f}"]
        figures += [f"{label} {row['metrics'][key]:.4f} vs {shipped[key]:.4f}" for key, label in IMPORT_FIGURES
                    if key in row["metrics"] and key in shipped]
        return (f"  (licence: {row['licence']}; this model vs {row['compared_with']} on {data.get('images')} faces of "
                f"{data.get('people')} people from {data.get('source')}: {', '.join(figures)})")
    if not row["parent"]:
        return ""
    figures = ", ".join(f"{key} {row['metrics'][key]:.4f}" for key in ("auc", "rank1") if key in row["metrics"])
    return f"  (from {row['parent']}, {row['created']}" + (f"; held-out {figures})" if figures else ")")


IMPORT_FIGURES = (("auc", "AUC"), ("tar_at_far_1e-2", "TAR@FAR1e-2"), ("rank1", "rank-1"))


def activate(args, model_id: str) -> None:
    from ..models.activation import activate_model

    with open_gallery(args) as gallery:
        embedder, embedded = activate_model(model_id, gallery, resolved_settings(args).provider,
                                        progress_printer(args, "re-embedding the gallery"))
    _say(args, f"{embedder.spec.id} is now active (tau {embedder.tau:.3f}; {embedded} gallery samples embedded)")


def run_activate(args) -> int:
    activate(args, args.model_id)
    emit(args, {"active": args.model_id}, f"active: {args.model_id}")
    return 0


def run_half(args) -> int:
    """Chips from the gallery and --check-on, then the converted, checked and registered copy."""
    import numpy as np

    from ..models.half_precision import LIMIT, make_half_precision
    from ..models.store import active_embedder, get_embedder
    from ..training.data import chips_from_folder

    parent = get_embedder(args.model_id) if args.model_id else active_embedder()
    with open_gallery(args) as gallery:
        chips = [sample.chip[None] for sample in gallery.samples()]
    if args.check_on:
        show = progress_printer(args, "reading faces")
        found = chips_from_folder(args.check_on, load_pipeline(args), args.crops,
                                  progress=lambda done, total, _path: show(done, total))
        chips.append(found.chips)
    size = int(parent.input["shape"][-1])
    stacked = np.concatenate(chips) if chips else np.zeros((0, size, size, 3), np.uint8)
    spec, measured = make_half_precision(parent, stacked, resolved_settings(args).provider)
    emit(args, {"model": spec.id, "parent": parent.id, **spec.details["accuracy"]},
         f"{spec.id} registered. On {measured.chips} faces ({measured.pairs} pairs) its distances differ from "
         f"{parent.id}'s by {measured.mean_pair_error:.5f} on average, {measured.max_pair_error:.5f} at most "
         f"(limit {LIMIT}).\nIt pays on CUDA only; use it with `oneshot models activate {spec.id}`.")
    return 0
