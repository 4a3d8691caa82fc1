"""Fine-tuning from start to finish, the steps the wizard and ``oneshot train`` share.

evaluate the active model on held-out people -> train (resuming an interrupted run with the
same data and settings) -> write the ONNX file -> check it against the Torch module ->
evaluate it on the same held-out people -> calibrate tau on those pairs -> register it as a
new model version. Nothing here activates the model: the running app is unchanged until the
user chooses to switch.

When the run trains for a domain shift (masks, low resolution, grey), both models are also
evaluated on shifted copies of the same held-out chips (painted from a seed training never
uses): enrolled as they are, seen shifted. Each comparison gets a bootstrap verdict, so the report says whether the gain is
larger than what resampling the held-out pairs gives and whether clean faces got worse.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..activation import open_embedder
from ..evaluation import Evaluation, Verdict, compare, evaluate, evaluate_shifted
from ..model_store import active_embedder, register_embedder, trained_model_id
from ..models import ModelSpec, verify_file
from ..paths import user_path
from .config import TrainConfig, shift_of
from .data import ChipSet, split_by_identity
from .export import export_onnx, parity
from .network import OnnxEmbeddingNet
from .trainer import EpochReport, StepReport, Trainer, TrainState, pick_device

MONITOR_SHARE = 0.2
MIN_PEOPLE_FOR_MONITOR = 8  # below this, every training person is needed to train
PARITY_CHIPS = 32
SHIFT_WORDS = {"mask": "with masks painted on", "lowres": "at low resolution", "grey": "in grey"}


def default_runs_dir() -> Path:
    return user_path("ONESHOT_RUNS_DIR", "data", "training-runs")


@dataclass
class Callbacks:
    phase: Callable[[str], None] = lambda text: None
    step: Callable[[StepReport], None] = lambda report: None
    epoch: Callable[[EpochReport], None] = lambda report: None
    should_stop: Callable[[], bool] = lambda: False


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
    """What a run produced; ``model`` is None when it was cancelled (its checkpoint is kept).

    ``verdict`` compares after with before on the clean held-out pairs; ``shifted`` holds the
    same under the shift the run trained for (None when it trained for none).
    """

    model: ModelSpec | None
    before: Evaluation
    after: Evaluation | None
    tau: float | None
    state: TrainState
    run_dir: Path
    details: dict = field(default_factory=dict)
    verdict: Verdict | None = None
    shifted: Shifted | None = None

    @property
    def recommended(self) -> bool:
        """Worth switching to: measurably better where it was trained to help, and clean faces
        not measurably worse. Only then may a front end pre-select "use this model now"."""
        if self.verdict is None:
            return False
        target = self.shifted.verdict if self.shifted and self.shifted.verdict else self.verdict
        return target.word == "better" and self.verdict.word != "worse"

    def document(self) -> dict:
        """The ``--json`` contract: model_id, before, after, tau (plus what else a script may want)."""
        return {
            "model_id": self.model.id if self.model else None,
            "before": _public(self.before.metrics),
            "after": _public(self.after.metrics) if self.after else None,
            "tau": self.tau,
            "cancelled": self.model is None,
            "verdict": self.verdict.public() if self.verdict else None,
            "shifted": self.shifted.document() if self.shifted else None,
            "recommended": self.recommended,
            **self.details,
        }


def _public(metrics: dict) -> dict:
    return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in metrics.items()}


def embed_with(spec: ModelSpec, chips: np.ndarray, provider: str = "auto") -> np.ndarray:
    """Descriptors from the ONNX file itself, as the runtime computes them."""
    embedder = open_embedder(spec, provider)
    return np.concatenate([embedder.embed(chips[i:i + 64]) for i in range(0, len(chips), 64)])


def run_key(parent: ModelSpec, config: TrainConfig, train: ChipSet, held_out: ChipSet) -> str:
    """Same parent, settings and data -> same run folder, so an interrupted run is found again."""
    digest = hashlib.sha256(json.dumps([parent.sha256, asdict(config), train.names, held_out.names]).encode())
    digest.update(train.labels.tobytes())
    digest.update(hashlib.sha256(train.chips.tobytes()).digest())
    return digest.hexdigest()[:20]


def fine_tune(train: ChipSet, held_out: ChipSet, config: TrainConfig, name: str, data_summary: dict,
              device: str = "auto", restart: bool = False, runs_dir: Path | None = None,
              callbacks: Callbacks | None = None) -> Outcome:
    """Train, export, check, evaluate and register; see the module docstring for the order."""
    calls = callbacks or Callbacks()
    train.require_people(2, "training")
    held_out.require_people(2, "evaluation")
    parent = active_embedder()
    verify_file(parent)
    calls.phase(f"Evaluating {parent.id} on {len(held_out.names)} held-out people")
    clean_before = embed_with(parent, held_out.chips)
    before = evaluate(clean_before, held_out.labels)
    kind, shifted, moved = shift_of(config), None, None
    if kind:
        from .shifts import shifted_chips

        calls.phase(f"Evaluating {parent.id} on the same people enrolled as they are and seen {SHIFT_WORDS[kind]}")
        moved = shifted_chips(held_out.chips, kind, config.seed)
        shifted = Shifted(kind, evaluate_shifted(clean_before, embed_with(parent, moved), held_out.labels))

    monitor = None
    if len(train.names) >= MIN_PEOPLE_FOR_MONITOR:
        train, monitor = split_by_identity(train, MONITOR_SHARE, config.seed)
        if kind:  # early stopping watches the shifted faces too, not only the clean ones
            from .shifts import shifted_chips

            monitor = ChipSet(monitor.names, np.concatenate([monitor.labels, monitor.labels]),
                              np.concatenate([monitor.chips, shifted_chips(monitor.chips, kind, config.seed + 1)]),
                              monitor.skipped)
    run_dir = (runs_dir or default_runs_dir()) / run_key(parent, config, train, held_out)
    if restart and run_dir.exists():
        shutil.rmtree(run_dir)
    torch_device = pick_device(device)
    trainer = Trainer(OnnxEmbeddingNet.from_file(parent.path), config, train, monitor, run_dir, torch_device,
                      calls.step, calls.epoch, calls.should_stop)
    resumed = trainer.resume()
    calls.phase(f"{'Resuming' if resumed else 'Training'} on {len(train)} images of {len(train.names)} people "
                f"({torch_device.type.upper()})")
    state = trainer.run()
    details = {"epochs": state.epoch, "best_epoch": state.best_epoch, "stop_reason": state.stop_reason,
               "resumed": resumed, "device": torch_device.type, "run_dir": str(run_dir)}
    if state.stop_reason == "cancelled":
        return Outcome(None, before, None, None, state, run_dir, details, shifted=shifted)

    calls.phase("Exporting to ONNX and checking it against the trained network")
    exported = run_dir / "model.onnx"
    export_onnx(trainer.net, parent.path, exported)
    parity(trainer.net, exported, held_out.chips[:PARITY_CHIPS])  # raises unless they agree
    calls.phase("Evaluating the fine-tuned model on the held-out people")
    candidate = replace(parent, id="candidate", path=exported)
    clean_after = embed_with(candidate, held_out.chips)
    after = evaluate(clean_after, held_out.labels)
    clean_verdict = compare(before, after, seed=config.seed)
    if shifted is not None:
        moved_after = evaluate_shifted(clean_after, embed_with(candidate, moved), held_out.labels)
        shifted = Shifted(kind, shifted.before, moved_after, compare(shifted.before, moved_after, seed=config.seed))
    tau = after.metrics["threshold"]
    training = {"data": data_summary, "train_people": len(train.names), "train_images": len(train),
                "monitor_people": len(monitor.names) if monitor else 0, "held_out_people": held_out.names,
                "config": asdict(config), **details}
    metrics = {"before": _public(before.metrics), "after": _public(after.metrics),
               "verdict": clean_verdict.public(), **({"shifted": shifted.document()} if shifted else {})}
    model = register_embedder(exported, parent, trained_model_id(parent), name, tau,
                              {"training": training, "metrics": metrics},
                              "trained with `oneshot train`; not rebuildable from a download (keep a copy)")
    shutil.rmtree(run_dir, ignore_errors=True)  # the model is stored; the checkpoint is no longer needed
    return Outcome(model, before, after, tau, state, run_dir, details, clean_verdict, shifted)
