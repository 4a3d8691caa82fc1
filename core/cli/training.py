"""``oneshot train | models | models activate | models half``: fine-tuning and choosing the embedder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError
from ..evaluation import METRIC_LABELS
from ..training.config import LOSSES, MINING, TrainConfig
from .common import PROVIDER, at_least, non_negative_number, positive_number, probability, seed, share  # option types
from .common import (common_options, emit, gallery_option, load_pipeline, model_options, open_gallery, progress_bar,
                     progress_printer, resolved_settings)

def register(commands) -> None:
    train = commands.add_parser("train", parents=[common_options(), model_options(), gallery_option()],
                                help="fine-tune the embedder on a folder per person (needs the train extra)")
    train.add_argument("data", nargs="?", type=Path, metavar="DATA",
                       help="folder with one sub-folder of images per person")
    train.add_argument("--from-gallery", action="store_true", help="train on the gallery's own samples instead")
    train.add_argument("--crops", action="store_true", help="the images are tight face crops (like ORL)")
    train.add_argument("--validate-on", type=Path, metavar="DIR",
                       help="held-out people to evaluate on (default: a share of DATA's people)")
    train.add_argument("--holdout", type=share, default=0.25, metavar="SHARE",
                       help="share of people held out for evaluation when --validate-on is not given (0.25)")
    defaults = TrainConfig()
    train.add_argument("--loss", choices=LOSSES, default=defaults.loss)
    train.add_argument("--mining", choices=MINING, default=defaults.mining)
    train.add_argument("--margin", type=positive_number, default=defaults.margin, metavar="ALPHA",
                       help="triplet margin alpha (%(default)s)")
    train.add_argument("-P", "--people-per-batch", type=at_least(2), default=defaults.people_per_batch, metavar="P")
    train.add_argument("-K", "--images-per-person", type=at_least(2), default=defaults.images_per_person, metavar="K")
    train.add_argument("--epochs", type=at_least(1), default=defaults.epochs)
    train.add_argument("--learning-rate", type=positive_number, default=defaults.learning_rate, metavar="LR")
    train.add_argument("--weight-decay", type=non_negative_number, default=defaults.weight_decay)
    train.add_argument("--train-layers", type=at_least(0), default=defaults.train_layers, metavar="N",
                       help="train only the last N layers (0: all); fewer overfit less on small data (%(default)s)")
    train.add_argument("--patience", type=at_least(0), default=defaults.patience,
                       help="stop after this many epochs without progress (0: never)")
    train.add_argument("--no-augment", action="store_true", help="no flips, colour, rotation, scale or blur")
    train.add_argument("--greyscale", type=probability, default=defaults.greyscale, metavar="P",
                       help="probability of turning a training chip grey (0.5 for a grey or infrared camera)")
    train.add_argument("--augment-mask", type=probability, default=defaults.mask_share, metavar="P",
                       help="share of training chips with a mask painted over nose and mouth (0.5 when people "
                            "wear masks); the held-out people are then also evaluated masked")
    train.add_argument("--augment-lowres", type=probability, default=defaults.lowres_share, metavar="P",
                       help="share of training chips down-sampled to a face of 24-64 pixels and back (0.5 for "
                            "small or far faces); the held-out people are then also evaluated at low resolution")
    train.add_argument("--seed", type=seed, default=defaults.seed)
    train.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto", help="where torch trains")
    train.add_argument("--name", default=None, help="a name for the new model version")
    train.add_argument("--restart", action="store_true", help="ignore the checkpoint of an interrupted run")
    train.add_argument("--activate", action="store_true", help="put the new model into service when done")
    train.set_defaults(run=run_train)

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


def _say(args, text: str) -> None:
    if not args.json:
        print(text, file=sys.stderr, flush=True)


def load_data(args, pipeline):
    """(train, held_out, summary) from the command's options, with what was skipped reported."""
    from ..training.data import chips_from_folder, chips_from_gallery, split_by_identity

    show = progress_printer(args, "reading faces")

    def progress(done: int, total: int, _path: str) -> None:
        show(done, total)

    if args.from_gallery:
        with open_gallery(args) as gallery:
            data = chips_from_gallery(gallery)
    elif args.data is None:
        raise InputError("give a DATA folder, or --from-gallery to train on the gallery")
    else:
        data = chips_from_folder(args.data, pipeline, args.crops, progress=progress)
    data = data.trainable()
    if args.validate_on:
        held_out = chips_from_folder(args.validate_on, pipeline, args.crops, progress=progress).trainable()
        train = data
    else:
        train, held_out = split_by_identity(data, args.holdout, args.seed)
    for path, reason in data.skipped + (held_out.skipped if args.validate_on else []):  # a split shares data's
        _say(args, f"skipped {path}: {reason}")
    summary = {"source": "gallery" if args.from_gallery else str(args.data), "crops": args.crops,
               **data.summary()}
    return train, held_out, summary


def run_train(args) -> int:
    from ..training import require_training

    require_training()
    from ..training.workflow import Callbacks, fine_tune

    config = TrainConfig(args.loss, args.mining, args.margin, args.people_per_batch, args.images_per_person,
                         args.epochs, args.learning_rate, args.weight_decay, args.train_layers,
                         patience=args.patience, augment=not args.no_augment, greyscale=args.greyscale,
                         mask_share=args.augment_mask, lowres_share=args.augment_lowres, seed=args.seed)
    try:
        config.validated()
    except ValueError as error:
        raise InputError(str(error)) from None
    pipeline = load_pipeline(args)
    train, held_out, summary = load_data(args, pipeline)

    def step(report) -> None:
        if not args.json:
            eta = f"{int(report.eta_seconds // 60)}:{int(report.eta_seconds % 60):02d}"
            print(f"\repoch {report.epoch} [{progress_bar(report.step, report.total_steps)}] step {report.step}/"
                  f"{report.total_steps} loss {report.loss:.4f} active {report.active_share:.0%} "
                  f"{report.images_per_second:.0f} img/s ETA {eta}  ", end="", file=sys.stderr, flush=True)

    def epoch(report) -> None:
        monitor = "" if report.monitor_auc is None else f", monitor AUC {report.monitor_auc:.4f}"
        _say(args, f"\nepoch {report.epoch}: mean loss {report.loss:.4f}{monitor} (best epoch {report.best_epoch})")

    name = args.name or f"fine-tuned on {summary['source']}"
    outcome = fine_tune(train, held_out, config, name, summary, args.device, args.restart,
                        callbacks=Callbacks(phase=lambda text: _say(args, text), step=step, epoch=epoch))
    if outcome.model is None:
        _say(args, f"cancelled; run the same command again to resume from {outcome.run_dir}")
    elif args.activate:
        _activate(args, outcome.model.id)
    if args.json:
        print(json.dumps(outcome.document()))
    else:
        shifted = outcome.shifted
        print(metrics_table(outcome.before.metrics, outcome.after.metrics if outcome.after else None,
                            shifted.kind if shifted else None, shifted.before.metrics if shifted else None,
                            shifted.after.metrics if shifted and shifted.after else None))
        if shifted is not None:
            moved = shifted.before.metrics["pairs"]
            print(f"({SHIFT_LABELS[shifted.kind]} columns: each person enrolled as photographed and seen "
                  f"{SHIFT_LABELS[shifted.kind]}; {moved['same']} same-person and {moved['different']} "
                  "different-person trials)")
        if outcome.verdict is not None:
            print(f"clean faces: {outcome.verdict.sentence()}")
        if shifted is not None and shifted.verdict is not None:
            print(f"{SHIFT_LABELS[shifted.kind]} faces: {shifted.verdict.sentence()}")
        masked = outcome.masked
        if masked is not None and masked is not shifted and masked.verdict is not None:
            print(f"masked faces (each person enrolled as photographed): {masked.verdict.sentence()}")
        if outcome.condition_taus:
            print(condition_taus_line(outcome.condition_taus))
        if outcome.warning():
            print(outcome.warning())
        if outcome.model is not None:
            print(f"registered {outcome.model.id} (tau {outcome.tau:.3f}, stopped: {outcome.state.stop_reason}, "
                  f"best epoch {outcome.state.best_epoch})" + ("" if args.activate else
                  f"; put it into service with `oneshot models activate {outcome.model.id}`"))
    return 0


SHIFT_LABELS = {"mask": "masked", "lowres": "low-res", "grey": "grey"}


def condition_taus_line(taus: dict) -> str:
    """Each condition's tau before -> after, and how they were found."""
    pairs = ", ".join(f"{name} {value:.3f} -> {taus['after'][name]:.3f}" for name, value in taus["before"].items()
                      if name in taus["after"])
    how = taus.get("note") or f"calibrated on {taus['probes']} held-out images of {taus['people']} people"
    return f"tau per condition (before -> after): {pairs} ({how})"


def metrics_table(before: dict, after: dict | None, kind: str | None = None, shifted_before: dict | None = None,
                  shifted_after: dict | None = None) -> str:
    """Before and after on clean held-out faces, and beside them under the shift when there is one."""

    def cell(metrics: dict | None, key: str) -> str:
        return f"{metrics[key]:8.4f}" if metrics else f"{'-':>8}"

    columns = [("before", before), ("after", after)]
    if kind and shifted_before is not None:
        word = SHIFT_LABELS.get(kind, kind)
        columns += [(f"{word} before", shifted_before), (f"{word} after", shifted_after)]
    width = max(8, *(len(title) for title, _ in columns))
    lines = [f"{'':38} " + " ".join(f"{title:>{width}}" for title, _ in columns)]
    for key, label in METRIC_LABELS:
        lines.append(f"{label:38} " + " ".join(f"{cell(metrics, key):>{width}}" for _, metrics in columns))
    pairs = before["pairs"]
    lines.append(f"(held-out pairs: {pairs['same']} same person, {pairs['different']} different)")
    return "\n".join(lines)


def run_models(args) -> int:
    from ..models.store import active_embedder, embedders

    active = active_embedder().id
    listing = []
    for spec in embedders():
        after = (spec.details.get("metrics") or {}).get("after", {})
        listing.append({"id": spec.id, "name": spec.details.get("name", spec.source.get("network", "")),
                        "parent": spec.details.get("parent"), "created": spec.details.get("created"),
                        "tau": spec.defaults["tau"], "active": spec.id == active, "metrics": after})
    if args.json:
        print(json.dumps(listing))
        return 0
    for row in listing:
        figures = ", ".join(f"{key} {row['metrics'][key]:.4f}" for key in ("auc", "rank1") if key in row["metrics"])
        lineage = f"  (from {row['parent']}, {row['created']}" + (f"; held-out {figures})" if figures else ")")
        print(f"{'*' if row['active'] else ' '} {row['id']}  tau {row['tau']:.3f}  {row['name']}"
              + (lineage if row["parent"] else ""))
    return 0


def _activate(args, model_id: str) -> None:
    from ..models.activation import activate_model

    with open_gallery(args) as gallery:
        embedder, embedded = activate_model(model_id, gallery, resolved_settings(args).provider,
                                        progress_printer(args, "re-embedding the gallery"))
    _say(args, f"{embedder.spec.id} is now active (tau {embedder.tau:.3f}; {embedded} gallery samples embedded)")


def run_activate(args) -> int:
    _activate(args, args.model_id)
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
