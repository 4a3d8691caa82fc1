"""The condition a face is seen in, and the distance threshold that condition calls for.

The embedder separates people best on a clear, frontal, well-lit face. A mask over nose and
mouth, a small, dark or turned face moves the same person's descriptors apart while strangers
stay as close as ever (painted masks on ../shared/data: the same person's median distance to
their clear photo goes from 0.09 to 0.29, strangers' 1st percentile stays at 0.34). At the
clear tau such a face would often be named as the wrong person, so each condition has its own,
stricter tau: a masked face is named only when the evidence is as strong as for a clear one
(``core.training.conditions`` calibrates them; the embedder's manifest carries them as
``defaults.condition_taus`` at its calibrated clear tau, and they are applied as fractions of
the clear tau in force, so a hand-set tau scales them too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detect import Face
from .quality import pose

# In the order a face's condition is named when several apply: the first is the one the
# person can most easily change (lower the mask, face the camera, come closer, more light).
CONDITIONS = ("clear", "masked", "profile", "small", "dark")
HINTS = {"masked": "lower the mask to be recognised", "profile": "face the camera",
         "small": "come closer", "dark": "more light"}
# Faces this many pixels tall or less, in the image the chip is cut from, carry too little
# detail: dlib's chips are 150 px for a face of about 100, so 40 px is upsampling by 2.5.
SMALL_FACE_PIXELS = 40.0
# The mean grey level of the chip's inner face below which it counts as dark (the enrolment
# gate asks for 60; between the two a face is still decided at the clear tau).
DARK_BRIGHTNESS = 40.0
# Nose offset from the face's midline, in eye distances: past the enrolment gate's 0.3.
PROFILE_YAW = 0.35
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# A model without calibrated condition taus borrows the shipped embedder's fractions of its
# clear tau (its manifest: 0.24, 0.24, 0.36, 0.155 and 0.105 at 0.36): unknown is better than a wrong name.
FALLBACK_FRACTIONS = {"masked": 0.67, "profile": 0.67, "small": 1.0, "dark": 0.43, "masked_masked": 0.29}


@dataclass(frozen=True)
class FaceCondition:
    """Every condition that applies to one face (empty: clear) and the measurements behind them."""

    applies: tuple[str, ...]
    covered: float  # probability that the lower face is covered
    height: float  # box height in the pixels the chip was cut from
    brightness: float  # mean grey level of the chip's inner face
    yaw: float

    @property
    def name(self) -> str:
        """The one word for the face: the first condition that applies, else ``clear``."""
        return self.applies[0] if self.applies else "clear"

    @property
    def masked(self) -> bool:
        return "masked" in self.applies

    @property
    def hint(self) -> str | None:
        return HINTS.get(self.name)


def inner_brightness(chip: np.ndarray) -> float:
    """Mean grey level of the chip's central three fifths, the face without hair or background."""
    size = chip.shape[0]
    margin = size // 5
    inner = chip[margin:size - margin, margin:size - margin].astype(np.float32)
    grey = inner @ GREY_WEIGHTS if inner.ndim == 3 else inner
    return float(grey.mean())


def assess(face: Face, chip: np.ndarray, covered: float, covered_threshold: float) -> FaceCondition:
    """The conditions of one face: ``face`` in the pixels its ``chip`` was cut from."""
    yaw, _ = pose(face)
    brightness = inner_brightness(chip)
    applies = []
    if covered >= covered_threshold:
        applies.append("masked")
    if abs(yaw) > PROFILE_YAW:
        applies.append("profile")
    if face.height <= SMALL_FACE_PIXELS:
        applies.append("small")
    if brightness < DARK_BRIGHTNESS:
        applies.append("dark")
    return FaceCondition(tuple(applies), float(covered), float(face.height), brightness, float(yaw))


CLEAR = FaceCondition((), 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ConditionTaus:
    """The tau of each condition as a fraction of the clear tau (at most 1: never laxer)."""

    fractions: dict

    @classmethod
    def from_defaults(cls, defaults: dict) -> "ConditionTaus":
        """From a model manifest's ``defaults``; conditions it does not calibrate borrow the fallback."""
        calibrated = defaults.get("condition_taus", {}) or {}
        tau = float(defaults.get("tau", 1.0)) or 1.0
        fractions = dict(FALLBACK_FRACTIONS)
        for condition, value in calibrated.items():
            fractions[condition] = min(1.0, float(value) / tau)
        return cls(fractions)

    def tau(self, condition: FaceCondition, clear_tau: float) -> float:
        """The threshold for this face: the strictest of its conditions' (the clear tau when none)."""
        return clear_tau * min((self.fractions.get(name, 1.0) for name in condition.applies), default=1.0)

    def pair_tau(self, a: FaceCondition, b: FaceCondition, clear_tau: float) -> float:
        """The threshold for comparing two faces: the stricter face's, and ``masked_masked`` when
        both are masked (two masks alike bring strangers closer together)."""
        tau = min(self.tau(a, clear_tau), self.tau(b, clear_tau))
        if a.masked and b.masked:
            tau = min(tau, clear_tau * self.fractions.get("masked_masked", 1.0))
        return tau

    def table(self, clear_tau: float) -> dict[str, float]:
        """Every condition's tau at this clear tau, for display."""
        return {"clear": clear_tau, **{name: round(clear_tau * self.fractions[name], 4) for name in self.fractions}}
