"""What a training run is asked to do, with its defaults: one definition for every front end.

No torch here, so ``oneshot train --help`` and the wizard's settings page show the same
defaults and choices without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

LOSSES = ("triplet", "binary")
MINING = ("semi-hard", "batch-hard", "batch-all")  # the keys of ``mining.MINERS``
SHIFTS = ("mask", "lowres", "grey")  # the domain shifts training can simulate and evaluation measures


def shift_of(config: "TrainConfig") -> str | None:
    """The shift a run is evaluated under: the one it trains for (mask before low-res before grey)."""
    shares = {"mask": config.mask_share, "lowres": config.lowres_share, "grey": config.greyscale}
    return next((kind for kind in SHIFTS if shares[kind] > 0), None)


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
    greyscale: float = 0.0  # share of training chips turned grey (a grey or infrared camera)
    mask_share: float = 0.0  # share of training chips with a painted mask over nose and mouth
    lowres_share: float = 0.0  # share down- then up-sampled to a face of 24-64 pixels (a far or poor camera)
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
        for name in ("mask_share", "lowres_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        return self
