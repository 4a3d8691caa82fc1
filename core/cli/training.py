"""``oneshot train``: fine-tuning the embedder (the models it makes are listed and chosen in ``models``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError
from ..evaluation import METRIC_LABELS
from ..training.config import LOSSES, MINING, TrainConfig
from .common import at_least, non_negative_number, positive_number, probability, seed, share  # option types
from .models import activate
from .common import (common_options, gallery_option, load_pipeline, model_options, open_gallery, progress_bar,
                     progress_printer)

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
        activate(args, outcome.model.id)
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
