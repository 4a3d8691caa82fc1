"""What a training run is asked to do, with its defaults: one definition for every front end.

No torch here, so ``oneshot train --help`` and the wizard's settings page show the same
defaults and choices without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

LOSSES = ("triplet", "binary")
MINING = ("semi-hard", "batch-hard", "batch-all")  # the keys of ``mining.MINERS``


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "triplet"
    mining: str = "semi-hard"
    margin: float = 0.2  # alpha, in squared-distance units (tau is 0.36 in the same units)
    people_per_batch: int = 8  # P
    images_per_person: int = 4  # K
    epochs: int = 40
    learning_rate: float = 3e-4
    weight_decay: float = 1e-4
    train_layers: int = 3  # trainable layers counted back from the output; 0 trains all of them
    warmup_epochs: int = 2
    patience: int = 8  # epochs without a better monitor AUC before stopping; 0 never stops early
    augment: bool = True
    greyscale: float = 0.0
    mixed_precision: bool = True  # on CUDA only
    seed: int = 0

    def validated(self) -> "TrainConfig":
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}")
        if self.mining not in MINING:
            raise ValueError(f"mining must be one of {', '.join(MINING)}")
        if self.people_per_batch < 2 or self.images_per_person < 2:
            raise ValueError("P and K must both be at least 2")
        if not (self.margin > 0 and self.epochs >= 1 and self.learning_rate > 0 and self.weight_decay >= 0):
            raise ValueError("margin, epochs and learning rate must be positive")
        if self.train_layers < 0 or not 0.0 <= self.greyscale <= 1.0:
            raise ValueError("train_layers must be 0 or more and greyscale a probability")
        return self
