"""Fine-tuning from start to finish, the steps the wizard and ``oneshot train`` share.

evaluate the active model on held-out people -> train (resuming an interrupted run with the
same data and settings) -> write the ONNX file -> check it against the Torch module ->
evaluate it on the same held-out people -> calibrate tau on those pairs, and a tau per face
condition (``conditions.calibrate``) -> register it as a new model version. Nothing here
activates the model: the running app is unchanged until the user chooses to switch.

Both models are also evaluated on shifted copies of the same held-out chips (painted from a
seed training never uses): enrolled as they are, seen masked, on every run, since any
fine-tune can undo what the app relies on for masked faces; and seen under the shift the run
trains for (low resolution, grey), when it trains for one. Each comparison gets a bootstrap
verdict, so the report says whether the gain is larger than what resampling the held-out
pairs gives, and names every condition that got worse.

Cancel (``Callbacks.should_stop``) is honoured at every phase, between batches of training and
between chunks of embedding, up to the moment of registering: a cancelled run registers and
activates nothing; only its checkpoint is kept for a resume.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..models.activation import open_embedder
from ..vision.condition import ConditionTaus
from ..errors import TrainingError
from ..evaluation import METRIC_LABELS, Evaluation, Verdict, compare, evaluate, evaluate_shifted
from ..models.store import active_embedder, register_embedder, trained_model_id
from ..models.registry import ModelSpec, verify_file
from ..paths import user_path
from .conditions import calibrate
from .config import TrainConfig, shift_of
from .data import ChipSet, split_by_identity
from .export import export_onnx, parity
from .network import OnnxEmbeddingNet
from .shifts import shifted_chips
from .trainer import CHECKPOINT, EpochReport, StepReport, Trainer, TrainState, pick_device

MONITOR_SHARE = 0.2
MIN_PEOPLE_FOR_MONITOR = 8  # below this, every training person is needed to train
PARITY_CHIPS = 32
EMBED_CHUNK = 64  # chips embedded between two cancel points
MODEL_FILE = "model.onnx"  # the exported model in the run folder, until it is registered
SHIFT_WORDS = {"mask": "with masks painted on", "lowres": "at low resolution", "grey": "in grey"}
CONDITION_WORDS = {"clean": "clean faces", "mask": "masked faces", "lowres": "low-res faces", "grey": "grey faces"}
# held-out people with two or more images that a tau per condition needs: with fewer, a
# handful of probes would decide it
MIN_CALIBRATION_PEOPLE = 3


def default_runs_dir() -> Path:
    return user_path("ONESHOT_RUNS_DIR", "data", "training-runs")


@dataclass
class Callbacks:
    phase: Callable[[str], None] = lambda text: None
    step: Callable[[StepReport], None] = lambda report: None
    epoch: Callable[[EpochReport], None] = lambda report: None
    should_stop: Callable[[], bool] = lambda: False

    def check(self) -> None:
        """A cancel point: raise ``Cancelled`` once the user has asked to stop."""
        if self.should_stop():
            raise Cancelled

    def enter(self, text: str) -> None:
        """Start a phase; its start is a cancel point too."""
        self.check()
        self.phase(text)


class Cancelled(Exception):
    """The user cancelled; ``fine_tune`` turns it into an outcome without a model."""


@dataclass(frozen=True, eq=False)
class Shifted:
    """The held-out people enrolled as they are and seen under a domain shift ("mask", "lowres"
    or "grey"): see ``core.evaluation.evaluate_shifted``."""

    kind: str
    before: Evaluation
    after: Evaluation | None = None
    verdict: Verdict | None = None  # after vs before on these shifted pairs

    def document(self) -> dict:
        return {"kind": self.kind, "before": _public(self.before.metrics),
                "after": _public(self.after.metrics) if self.after else None,
                "verdict": self.verdict.public() if self.verdict else None}


@dataclass(frozen=True, eq=False)
class Outcome:
    """What a run produced; when it was cancelled, ``model`` and every measurement are None (the
    training checkpoint, if training began, is kept).

    ``verdict`` compares after with before on the clean held-out pairs; ``shifted`` holds the
    same under the shift the run trained for (None when it trained for none), ``masked`` with
    masks painted on (the same object as ``shifted`` when the run trained for masks).
    ``condition_taus`` holds each condition's tau before and after (see ``condition_taus``).
    """

    model: ModelSpec | None
    before: Evaluation | None
    after: Evaluation | None
    tau: float | None
    state: TrainState
    run_dir: Path
    details: dict = field(default_factory=dict)
    verdict: Verdict | None = None
    shifted: Shifted | None = None
    masked: Shifted | None = None
    condition_taus: dict | None = None

    @property
    def verdicts(self) -> dict[str, Verdict]:
        """Every evaluated condition's verdict: "clean", "mask" and the shift trained for."""
        found = {"clean": self.verdict} if self.verdict is not None else {}
        for shifted in (self.masked, self.shifted):
            if shifted is not None and shifted.verdict is not None:
                found[shifted.kind] = shifted.verdict
        return found

    @property
    def worse(self) -> list[str]:
        return [name for name, verdict in self.verdicts.items() if verdict.word == "worse"]

    @property
    def recommended(self) -> bool:
        """Worth switching to: measurably better where it was trained to help, and no evaluated
        condition measurably worse. Only then may a front end pre-select "use this model now"."""
        if self.verdict is None or self.worse:
            return False
        target = self.shifted.verdict if self.shifted and self.shifted.verdict else self.verdict
        return target.word == "better"

    def warning(self) -> str | None:
        """"not recommended: ..." naming each condition that got worse, with its figures; None when none did."""
        if not self.worse:
            return None
        labels = dict(METRIC_LABELS)
        return "not recommended: " + "; ".join(
            f"{CONDITION_WORDS.get(name, name)} of people it did not train on got worse "
            f"({labels.get(v.metric, v.metric)} {v.difference:+.4f}, {v.confidence:.0%} interval {v.low:+.4f} "
            f"to {v.high:+.4f})" for name, v in self.verdicts.items() if v.word == "worse")

    def document(self) -> dict:
        """The ``--json`` contract: model_id, before, after, tau (plus what else a script may want)."""
        return {
            "model_id": self.model.id if self.model else None,
            "before": _public(self.before.metrics) if self.before else None,
            "after": _public(self.after.metrics) if self.after else None,
            "tau": self.tau,
            "cancelled": self.model is None,
            "verdict": self.verdict.public() if self.verdict else None,
            "shifted": self.shifted.document() if self.shifted else None,
            "masked": self.masked.document() if self.masked else None,
            "recommended": self.recommended,
            "worse": self.worse,
            "warning": self.warning(),
            "condition_taus": self.condition_taus,
            **self.details,
        }


def _public(metrics: dict) -> dict:
    return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in metrics.items()}


def embedding(spec: ModelSpec, provider: str = "auto",
              check: Callable[[], None] = lambda: None) -> Callable[[np.ndarray], np.ndarray]:
    """Descriptors from the ONNX file itself, as the runtime computes them (opened once);
    ``check`` runs before every chunk, so a cancel need not wait for the whole set."""
    embedder = open_embedder(spec, provider)

    def embed(chips: np.ndarray) -> np.ndarray:
        parts = []
        for i in range(0, len(chips), EMBED_CHUNK):
            check()
            parts.append(embedder.embed(chips[i:i + EMBED_CHUNK]))
        return np.concatenate(parts)

    return embed


def embed_with(spec: ModelSpec, chips: np.ndarray, provider: str = "auto",
               check: Callable[[], None] = lambda: None) -> np.ndarray:
    return embedding(spec, provider, check)(chips)


def condition_taus(parent: ModelSpec, candidate: ModelSpec, tau: float, held_out: ChipSet,
                   check: Callable[[], None] = lambda: None) -> dict:
    """Each condition's tau for the parent (at its own tau) and the candidate (at ``tau``),
    calibrated on the held-out people with their first image as the gallery.

    Too few held-out people for that: the parent's condition taus, scaled to the new clear tau.
    A calibrated tau is never laxer than that either: a small held-out set shows no errors at
    almost any threshold (3 people put the masked tau next to the clear one), and unknown is
    better than a wrong name.
    """
    labels = held_out.labels
    people = int((np.unique(labels, return_counts=True)[1] >= 2).sum())
    parent_tau = float(parent.defaults["tau"])
    if people < MIN_CALIBRATION_PEOPLE:
        present = ConditionTaus.from_defaults(parent.defaults)
        return {"before": present.table(parent_tau), "after": present.table(tau), "calibrated": False,
                "note": f"only {people} held-out people have two or more images ({MIN_CALIBRATION_PEOPLE} needed to "
                        f"calibrate): the parent's condition taus are kept, scaled to the new clear tau"}
    gallery = np.zeros(len(labels), dtype=bool)
    gallery[np.unique(labels, return_index=True)[1]] = True
    found = {"calibrated": True, "people": people, "probes": int((~gallery).sum())}
    present = ConditionTaus.from_defaults(parent.defaults)
    for side, spec, clear in (("before", parent, parent_tau), ("after", candidate, tau)):
        result = calibrate(embedding(spec, check=check), held_out.chips, labels, gallery, clear)
        cap = present.table(clear)
        found[side] = {name: min(value["tau"], cap.get(name, clear)) for name, value in result.items()
                       if isinstance(value, dict)}
    return found


def run_key(parent: ModelSpec, config: TrainConfig, train: ChipSet, held_out: ChipSet) -> str:
    """Same parent, settings and data -> same run folder, so an interrupted run is found again."""
    digest = hashlib.sha256(json.dumps([parent.sha256, asdict(config), train.names, held_out.names]).encode())
    digest.update(train.labels.tobytes())
    digest.update(hashlib.sha256(train.chips.tobytes()).digest())
    return digest.hexdigest()[:20]


def fine_tune(train: ChipSet, held_out: ChipSet, config: TrainConfig, name: str, data_summary: dict,
              device: str = "auto", restart: bool = False, runs_dir: Path | None = None,
              callbacks: Callbacks | None = None) -> Outcome:
    """Train, export, check, evaluate and register; see the module docstring for the order.

    A cancel at any point before registering returns an outcome without a model: the exported
    file is removed, so nothing of the run but its checkpoint remains.
    """
    calls = callbacks or Callbacks()
    train.require_people(2, "training")
    held_out.require_people(2, "evaluation")
    parent = active_embedder()
    if "from_chip" in parent.input:  # imported (or a copy of one): not the dlib ResNet graph the trainer runs
        raise TrainingError(f"the active model {parent.id} was imported and cannot be fine-tuned; activate the "
                            "shipped model or one trained from it first (`oneshot models activate ID`)")
    verify_file(parent)
    monitor = None
    if len(train.names) >= MIN_PEOPLE_FOR_MONITOR:
        train, monitor = split_by_identity(train, MONITOR_SHARE, config.seed)
    run_dir = (runs_dir or default_runs_dir()) / run_key(parent, config, train, held_out)
    try:
        return _fine_tune(train, monitor, held_out, config, name, data_summary, device, restart, run_dir, parent, calls)
    except Cancelled:
        (run_dir / MODEL_FILE).unlink(missing_ok=True)
        return Outcome(None, None, None, None, TrainState(stop_reason="cancelled"), run_dir,
                       {"stop_reason": "cancelled", "parent": parent.id, "run_dir": str(run_dir),
                        "checkpoint_kept": (run_dir / CHECKPOINT).is_file()})


def _fine_tune(train: ChipSet, monitor: ChipSet | None, held_out: ChipSet, config: TrainConfig, name: str,
               data_summary: dict, device: str, restart: bool, run_dir: Path, parent: ModelSpec,
               calls: Callbacks) -> Outcome:
    """``fine_tune`` after the data is split; raises ``Cancelled`` at any cancel point."""
    calls.enter(f"Evaluating {parent.id} on {len(held_out.names)} held-out people")
    clean_before = embed_with(parent, held_out.chips, check=calls.check)
    before = evaluate(clean_before, held_out.labels)
    kind = shift_of(config)
    views = {}  # shift -> (the shifted held-out chips, their evaluation): masks always, and the trained shift
    for shift in dict.fromkeys(("mask", kind) if kind else ("mask",)):
        calls.enter(f"Evaluating {parent.id} on the same people enrolled as they are and seen {SHIFT_WORDS[shift]}")
        moved = shifted_chips(held_out.chips, shift, config.seed)
        views[shift] = (moved, Shifted(shift, evaluate_shifted(clean_before, embed_with(parent, moved, check=calls.check),
                                                               held_out.labels)))

    if monitor is not None and kind:  # early stopping watches the shifted faces too, not only the clean ones
        monitor = ChipSet(monitor.names, np.concatenate([monitor.labels, monitor.labels]),
                          np.concatenate([monitor.chips, shifted_chips(monitor.chips, kind, config.seed + 1)]),
                          monitor.skipped)
    if restart and run_dir.exists():
        shutil.rmtree(run_dir)
    torch_device = pick_device(device)
    trainer = Trainer(OnnxEmbeddingNet.from_file(parent.path), config, train, monitor, run_dir, torch_device,
                      calls.step, calls.epoch, calls.should_stop)
    resumed = trainer.resume()
    calls.enter(f"{'Resuming' if resumed else 'Training'} on {len(train)} images of {len(train.names)} people "
                f"({torch_device.type.upper()})")
    state = trainer.run()
    if state.stop_reason == "cancelled":
        raise Cancelled
    details = {"epochs": state.epoch, "best_epoch": state.best_epoch, "stop_reason": state.stop_reason,
               "resumed": resumed, "device": torch_device.type, "run_dir": str(run_dir)}

    calls.enter("Exporting to ONNX and checking it against the trained network")
    exported = run_dir / MODEL_FILE
    export_onnx(trainer.net, parent.path, exported)
    calls.check()
    parity(trainer.net, exported, held_out.chips[:PARITY_CHIPS])  # raises unless they agree
    calls.enter("Evaluating the fine-tuned model on the held-out people")
    candidate = replace(parent, id="candidate", path=exported)
    clean_after = embed_with(candidate, held_out.chips, check=calls.check)
    after = evaluate(clean_after, held_out.labels)
    clean_verdict = compare(before, after, seed=config.seed)
    for shift, (moved, measured) in views.items():
        moved_after = evaluate_shifted(clean_after, embed_with(candidate, moved, check=calls.check), held_out.labels)
        views[shift] = (moved, Shifted(shift, measured.before, moved_after,
                                       compare(measured.before, moved_after, seed=config.seed)))
    shifted, masked = views[kind][1] if kind else None, views["mask"][1]
    tau = after.metrics["threshold"]
    calls.enter("Calibrating the tau of each face condition (masked, small, dark) on the held-out people")
    taus = condition_taus(parent, candidate, tau, held_out, calls.check)
    training = {"data": data_summary, "train_people": len(train.names), "train_images": len(train),
                "monitor_people": len(monitor.names) if monitor else 0, "held_out_people": held_out.names,
                "config": asdict(config), **details}
    metrics = {"before": _public(before.metrics), "after": _public(after.metrics),
               "verdict": clean_verdict.public(), **({"shifted": shifted.document()} if shifted else {}),
               "masked": masked.document(), "condition_taus": taus}
    calls.check()  # the last cancel point: from here on the model is in the store
    model = register_embedder(exported, parent, trained_model_id(parent), name, tau,
                              {"training": training, "metrics": metrics},
                              "trained with `oneshot train`; not rebuildable from a download (keep a copy)",
                              {condition: value for condition, value in taus["after"].items() if condition != "clear"})
    shutil.rmtree(run_dir, ignore_errors=True)  # the model is stored; the checkpoint is no longer needed
    return Outcome(model, before, after, tau, state, run_dir, details, clean_verdict, shifted, masked, taus)
