"""Calibrate a tau per face condition: a masked (small, dark) face is named only on evidence
as strong as a clear one's.

One clear photo per person is the gallery; every other photo is a probe, once as it is and
once in each condition, made from the same chip: a painted mask (``augment.paint_masks``,
several seeds), a face 24-64 px wide (``augment.low_resolution``), an exposure dark enough to
count as dark (inner face at grey level 20-40) with sensor noise.

At a threshold t two things can go wrong: a probe is named as someone else, or, with its own
person left out of the gallery (a stranger), anyone's name comes out. The clear probes at the
clear tau set the two rates to meet; each condition's tau is the largest t (in steps of
0.005, never above the clear tau) below which that condition's rates are no higher. Masked
probes against masked gallery vectors are calibrated the same way as ``masked_masked``,
against the masked copies the app keeps of each clear sample (``core.vision.masks``). No profile
photos exist in the shared data, so a turned face takes the masked tau (the strictest):
unknown is better than a wrong name.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..vision.condition import DARK_BRIGHTNESS, inner_brightness
from ..vision.masks import copy_vectors
from .augment import low_resolution, paint_masks

STEP = 0.005
MASK_SEEDS = (1, 2, 3)
DARK_LEVELS = (20.0, DARK_BRIGHTNESS)  # the inner face's mean grey level after darkening
DARK_NOISE = 4.0  # sensor noise (grey levels) that a dark exposure amplifies


def _tensor(chips: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float()


def _chips(tensor: torch.Tensor) -> np.ndarray:
    return tensor.clamp(0, 255).round().byte().permute(0, 2, 3, 1).contiguous().numpy()


def masked(chips: np.ndarray, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return _chips(paint_masks(_tensor(chips), torch.ones(len(chips), dtype=torch.bool), generator))


def small(chips: np.ndarray, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return _chips(low_resolution(_tensor(chips), torch.ones(len(chips), dtype=torch.bool), generator))


def dark(chips: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    levels = np.array([inner_brightness(chip) for chip in chips])
    gain = (rng.uniform(*DARK_LEVELS, size=len(chips)) / np.maximum(levels, 1.0))[:, None, None, None]
    noisy = chips.astype(np.float32) * gain + rng.normal(0.0, DARK_NOISE, size=chips.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def mask_photo(pixels: np.ndarray, face, colour: tuple[int, int, int] = (150, 190, 220)) -> np.ndarray:
    """A copy of a whole photo with a plain mask drawn over ``face``'s nose, mouth and chin from
    its landmarks: a masked face for demos and tests, shaped unlike the chip painter's."""
    import cv2

    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmark_array()
    eye_gap = float(np.linalg.norm(right_eye - left_eye))
    top = nose[1] - 0.35 * eye_gap
    chin = (mouth_left[1] + mouth_right[1]) / 2 + 0.75 * eye_gap
    x1, x2 = left_eye[0] - 0.45 * eye_gap, right_eye[0] + 0.45 * eye_gap
    outline = np.array([[x1, top], [x2, top], [x2, chin - 0.3 * eye_gap], [(x1 + x2) / 2, chin],
                        [x1, chin - 0.3 * eye_gap]], dtype=np.int32)
    covered = pixels.copy()
    cv2.fillPoly(covered, [outline], colour)
    return covered


def errors(distances: np.ndarray, same: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(2, T): per threshold, the share of probes named as someone else, and the share named
    with their own person left out of the gallery (as strangers)."""
    rows = np.arange(len(distances))
    best = distances.argmin(1)
    wrong_best = ~same[rows, best]
    stranger = np.where(same, np.inf, distances).min(1)
    wrong = (distances[rows, best][None] < thresholds[:, None]) & wrong_best[None]
    named_stranger = stranger[None] < thresholds[:, None]
    return np.stack([wrong.mean(1), named_stranger.mean(1)]) if len(distances) else np.zeros((2, len(thresholds)))


def _squared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T, 0.0)


def calibrate(embed: Callable[[np.ndarray], np.ndarray], chips: np.ndarray, labels: np.ndarray,
              gallery: np.ndarray, tau: float) -> dict:
    """Each condition's tau (absolute) and the error rates behind it.

    ``embed`` maps (N, S, S, 3) uint8 chips to descriptors; ``gallery`` marks the one clear
    photo per person that is enrolled, the rest are probes.
    """
    gallery = np.asarray(gallery, dtype=bool)
    probes = ~gallery
    same = labels[probes][:, None] == labels[gallery][None]
    enrolled = embed(chips[gallery])
    thresholds = np.round(np.arange(STEP, tau + 1e-9, STEP), 6)  # never above the clear tau
    reference = errors(_squared(embed(chips[probes]), enrolled), same, np.array([tau]))[:, 0]

    copies = copy_vectors(embed, chips[gallery])  # the app's masked copies of each enrolled photo

    def rates(make, against_masked: bool = False) -> np.ndarray:
        runs = []
        for seed in MASK_SEEDS:
            shown = embed(make(chips[probes], seed))
            target = copies if against_masked else enrolled
            runs.append(errors(_squared(shown, target), same, thresholds))
        return np.mean(runs, axis=0)

    result = {"clear": {"tau": tau, "wrong_names": round(float(reference[0]), 5),
                        "strangers_named": round(float(reference[1]), 5)}}
    for name, make, against_masked in (("masked", masked, False), ("small", small, False), ("dark", dark, False),
                                       ("masked_masked", masked, True)):
        rate = rates(make, against_masked)
        meets = np.all(rate <= reference[:, None] + 1e-12, axis=0)
        # the largest threshold at which this condition, and every lower threshold, meets the clear rates
        chosen = int(np.argmin(meets)) if not meets.all() else len(thresholds)
        result[name] = {"tau": float(thresholds[chosen - 1]) if chosen else 0.0,
                        "wrong_names": round(float(rate[0, chosen - 1]), 5) if chosen else 0.0,
                        "strangers_named": round(float(rate[1, chosen - 1]), 5) if chosen else 0.0,
                        "wrong_names_at_clear_tau": round(float(rate[0, -1]), 5),
                        "strangers_named_at_clear_tau": round(float(rate[1, -1]), 5)}
    result["profile"] = {"tau": result["masked"]["tau"], "borrowed_from": "masked"}
    result["probes"] = int(probes.sum())
    result["people"] = int(gallery.sum())
    return result


def shared_faces(pipeline, data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chips, labels and the gallery mask (photo 1 of each person) of ORL and people/ in ``data``."""
    from ..vision.imaging import load_image

    chips, labels, gallery = [], [], []
    for folder in (data / "orl", data / "people"):
        for person in sorted(p for p in folder.iterdir() if p.is_dir()):
            photos = sorted((p for p in person.iterdir() if p.suffix.lower() in {".pgm", ".jpg", ".png"}),
                            key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
            for photo in photos:
                results = pipeline.analyse(load_image(str(photo)))
                if results:
                    chips.append(max(results, key=lambda r: r.face.area).chip)
                    labels.append(f"{folder.name}/{person.name}")
                    gallery.append(photo.stem == "1")
    return np.stack(chips), np.array(labels), np.array(gallery)


def main(argv: list[str] | None = None) -> None:
    from ..vision.pipeline import FacePipeline

    parser = argparse.ArgumentParser(prog="python -m core.training.conditions", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--model", default=None, help="embedder id (default: the active one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pipeline = FacePipeline.load("cpu", embedder_id=args.model)
    chips, labels, gallery = shared_faces(pipeline, args.data)
    print(json.dumps(calibrate(pipeline.embed, chips, labels, gallery, pipeline.tau), indent=2))


if __name__ == "__main__":
    main()
