"""The training loop: P x K batches, augmentation, mining + loss, schedule, checkpoints, resume.

One step is the same for every loss: ``loss(embeddings, labels, miner(embeddings, labels))``,
with the miner and loss the config names (``losses.objective``). A run lives in its own
folder. After every epoch, and when the user cancels (asked before every batch, so a cancel
waits for one batch at most) or presses Ctrl-C, the whole state is written to
``checkpoint.pt`` (``checkpoint``), so closing the app or killing the process
loses at most one epoch, and a resumed run continues from the exact step it stopped at (the
sampler replays epoch e identically). Early stopping watches the AUC of monitor people the
network never trains on, and the best weights, not the last, are what the run returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..evaluation import evaluate, mean_triplet_loss
from . import checkpoint
from .augment import Augmentation
from .checkpoint import CHECKPOINT
from ..errors import TrainingError
from .config import TrainConfig
from .data import ChipSet
from .losses import objective
from .network import OnnxEmbeddingNet
from .sampler import PKSampler

__all__ = ["CHECKPOINT", "EpochReport", "StepReport", "TrainConfig", "TrainState", "Trainer", "TrainingError",
           "embed_chips", "freeze_all_but", "pick_device", "trainable_layers"]


@dataclass(frozen=True)
class StepReport:
    epoch: int
    step: int  # global, from 1
    total_steps: int
    loss: float
    active_share: float  # triplets with loss > 0 (binary loss: pairs on the wrong side)
    learning_rate: float
    images_per_second: float
    eta_seconds: float


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    loss: float
    monitor_auc: float | None
    best_epoch: int


@dataclass
class TrainState:
    epoch: int = 0  # the epoch in progress (0-based)
    step_in_epoch: int = 0
    global_step: int = 0
    best_score: tuple | None = None  # (monitor AUC, -monitor triplet loss)
    best_epoch: int = 0  # 0: the starting weights
    best_weights: dict | None = None
    stale_epochs: int = 0
    finished: bool = False
    stop_reason: str = ""


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TrainingError("CUDA was asked for, but torch sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cpu")


def trainable_layers(net: OnnxEmbeddingNet) -> list[list[str]]:
    """Parameter names per Conv/MatMul layer, in graph order (input to output)."""
    return [[name for name in inputs if name in net.weights]
            for op, inputs, _, _ in net.nodes if op in ("Conv", "MatMul")]


def freeze_all_but(net: OnnxEmbeddingNet, last_layers: int) -> int:
    """Train only the last ``last_layers`` layers (0: all); return the number of trained weights."""
    layers = trainable_layers(net)
    chosen = {name for layer in (layers[-last_layers:] if last_layers else layers) for name in layer}
    for name, parameter in net.weights.items():
        parameter.requires_grad_(name in chosen)
    return sum(p.numel() for p in net.weights.values() if p.requires_grad)


def to_network_input(chips: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float32 0..255, the ONNX graph's input."""
    return torch.from_numpy(np.ascontiguousarray(chips)).to(device).permute(0, 3, 1, 2).float()


@torch.no_grad()
def embed_chips(net: OnnxEmbeddingNet, chips: np.ndarray, device: torch.device, batch: int = 64) -> np.ndarray:
    net.eval()
    parts = [net(to_network_input(chips[i:i + batch], device)).float().cpu().numpy()
             for i in range(0, len(chips), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 128), np.float32)


def is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    # oneDNN (torch's CPU kernels) reports a failed scratch allocation as "could not create a primitive"
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in text or (
        "can't allocate memory" in text) or "could not create a primitive" in text


class Trainer:
    """Fine-tunes ``net`` in place on ``train``; watches ``monitor`` (may be None) for early stopping."""

    def __init__(self, net: OnnxEmbeddingNet, config: TrainConfig, train: ChipSet, monitor: ChipSet | None,
                 run_dir: Path, device: torch.device | None = None,
                 on_step: Callable[[StepReport], None] | None = None,
                 on_epoch: Callable[[EpochReport], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.config = config.validated()
        self.net = net
        self.train = train
        self.monitor = monitor
        self.run_dir = Path(run_dir)
        self.device = device or pick_device()
        self.on_step = on_step or (lambda report: None)
        self.on_epoch = on_epoch or (lambda report: None)
        self.should_stop = should_stop or (lambda: False)
        self.sampler = PKSampler(train.labels, config.people_per_batch, config.images_per_person, config.seed)
        freeze_all_but(net, config.train_layers)
        net.to(self.device)
        self.miner, self.loss = objective(self.config, net_dimensions(net))
        self.loss.to(self.device)  # a loss may have parameters of its own (the pair classifier's head)
        parameters = [p for p in net.weights.values() if p.requires_grad] + list(self.loss.parameters())
        self.optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.total_steps = config.epochs * len(self.sampler)
        warmup = max(1, config.warmup_epochs * len(self.sampler))
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: min(
            (step + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(step, self.total_steps) / self.total_steps))))
        self.mixed = config.mixed_precision and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.mixed)
        self.augment = Augmentation.from_config(self.config)  # None when it asks for none
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(config.seed)
        self.state = TrainState()

    @property
    def checkpoint_path(self) -> Path:
        return checkpoint.checkpoint_path(self.run_dir)

    # -- checkpoints ---------------------------------------------------------------------

    def _stateful_parts(self) -> dict:
        return {"optimizer": self.optimizer, "schedule": self.schedule, "scaler": self.scaler, "loss": self.loss}

    def save_checkpoint(self) -> None:
        """The whole state, written atomically (see ``checkpoint``)."""
        checkpoint.save(self.run_dir, asdict(self.config), self._trained_weights(), self._stateful_parts(),
                        self.generator, asdict(self.state))

    def resume(self) -> bool:
        """Load ``checkpoint.pt`` if the run folder has one; False when starting fresh."""
        saved = checkpoint.load(self.run_dir, asdict(self.config), self.device)
        if saved is None:
            return False
        self._load_weights(saved["weights"])
        checkpoint.restore(saved, self._stateful_parts(), self.generator)
        self.state = TrainState(**saved["state"])
        if not self.state.finished:
            self.state.stop_reason = ""  # it was cancelled or killed; now it goes on
        return True

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> TrainState:
        """Train until the last epoch, early stop or ``should_stop``; the best weights end in ``net``."""
        state = self.state
        if self._cancelled():
            return state
        if state.global_step == 0 and state.epoch == 0:
            self._watch(epoch=0, loss=float("nan"))  # the starting weights are the first candidate
        started, steps_done = time.perf_counter(), 0
        try:
            while state.epoch < self.config.epochs and not state.finished:
                batches = self.sampler.epoch(state.epoch)
                losses = []
                while state.step_in_epoch < len(batches):
                    if self._cancelled():
                        return state
                    report = self._step(batches[state.step_in_epoch])
                    state.step_in_epoch += 1
                    state.global_step += 1
                    steps_done += 1
                    losses.append(report[0])
                    elapsed = time.perf_counter() - started
                    self.on_step(StepReport(state.epoch + 1, state.global_step, self.total_steps, report[0], report[1],
                                            self.schedule.get_last_lr()[0],
                                            steps_done * self.sampler.batch_size / elapsed,
                                            elapsed / steps_done * (self.total_steps - state.global_step)))
                if self._cancelled():  # before the monitor evaluation; a resume picks it up here
                    return state
                state.epoch += 1
                state.step_in_epoch = 0
                self._watch(state.epoch, float(np.mean(losses)) if losses else float("nan"))
                self.save_checkpoint()
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise
        except (RuntimeError, MemoryError) as error:
            if is_out_of_memory(error):
                raise TrainingError(
                    f"out of memory with batches of P x K = {self.sampler.people_per_batch} x "
                    f"{self.config.images_per_person} = {self.sampler.batch_size} chips on {self.device.type}: "
                    "choose fewer people per batch (P) or images per person (K); the last checkpoint is kept"
                ) from None
            raise
        state.finished = True
        state.stop_reason = state.stop_reason or "all epochs done"
        self.save_checkpoint()
        self.restore_best()
        return state

    def _cancelled(self) -> bool:
        """The cancel point between batches: once asked to stop, save the state for a resume."""
        if not self.should_stop():
            return False
        self.state.stop_reason = "cancelled"
        self.save_checkpoint()
        return True

    def restore_best(self) -> None:
        if self.state.best_weights is not None:
            self._load_weights(self.state.best_weights)

    def _trained_weights(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the weights being trained (the frozen ones are the parent file's)."""
        return {name: value.detach().cpu().clone() for name, value in self.net.weights.items() if value.requires_grad}

    @torch.no_grad()
    def _load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        for name, value in weights.items():
            self.net.weights[name].copy_(value.to(self.device))

    def _step(self, indices: np.ndarray) -> tuple[float, float]:
        self.net.train()
        chips = to_network_input(self.train.chips[indices], self.device)
        labels = torch.from_numpy(self.train.labels[indices]).to(self.device)
        if self.augment is not None:
            chips = self.augment(chips, self.generator)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.mixed):
            embeddings = self.net(chips).float()
        result = self.loss(embeddings, labels, self.miner(embeddings, labels))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(result.loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return float(result.loss.detach()), result.active_share

    def _watch(self, epoch: int, loss: float) -> None:
        """Score the monitor people; keep the best weights; stop after ``patience`` flat epochs.

        The score is (AUC, -mean triplet loss): AUC first, and on data where AUC is already
        1.0 the triplet loss of people never trained on still tells better from worse.
        """
        state = self.state
        monitor_auc = None
        score = (float(epoch), 0.0)  # no monitor: the newest weights count as best
        if self.monitor is not None:
            embeddings = embed_chips(self.net, self.monitor.chips, self.device)
            monitor_auc = evaluate(embeddings, self.monitor.labels).metrics["auc"]
            score = (round(monitor_auc, 4), -mean_triplet_loss(embeddings, self.monitor.labels, self.config.margin))
        if state.best_score is None or score > tuple(state.best_score):
            state.best_score, state.best_epoch, state.stale_epochs = score, epoch, 0
            state.best_weights = self._trained_weights()
        elif epoch > 0:
            state.stale_epochs += 1
        if epoch > 0:
            self.on_epoch(EpochReport(epoch, loss, monitor_auc, state.best_epoch))
        if self.config.patience and state.stale_epochs >= self.config.patience:
            state.finished, state.stop_reason = True, f"no better monitor score for {self.config.patience} epochs"


def net_dimensions(net: OnnxEmbeddingNet) -> int:
    """The descriptor length: the columns of the final projection."""
    last = trainable_layers(net)[-1][0]
    return int(net.weights[last].shape[-1])
