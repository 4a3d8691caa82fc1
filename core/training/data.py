"""Training data: face chips with person labels, from a folder per person or from the gallery.

A folder is run through our detector and aligner once, so training sees exactly the chips the
live app will feed the network; the result is cached (keyed by every file's size and time and
by the models) so a second run starts at once. Every image that cannot be used is reported
with its reason, never silently dropped. No torch here: the wizard's data page uses it too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, TrainingDataError
from ..paths import user_path

MIN_IMAGES_PER_PERSON = 2  # a positive pair needs two images


@dataclass(frozen=True, eq=False)
class ChipSet:
    """Chips (N, S, S, 3) uint8 RGB; ``labels[i]`` indexes ``names``; what was left out and why."""

    names: list[str]
    labels: np.ndarray
    chips: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Images per person, in ``names`` order."""
        return {name: int(n) for name, n in zip(self.names, np.bincount(self.labels, minlength=len(self.names)))}

    def subset(self, people: list[int]) -> "ChipSet":
        """Only these people (indices into ``names``), relabelled 0..len(people)-1."""
        new_label = {old: new for new, old in enumerate(people)}
        keep = np.isin(self.labels, people)
        labels = np.array([new_label[label] for label in self.labels[keep]], dtype=np.int64)
        return ChipSet([self.names[i] for i in people], labels, self.chips[keep], list(self.skipped))

    def trainable(self) -> "ChipSet":
        """People with at least two images; the others are added to ``skipped`` with the reason."""
        counts = self.counts()
        keep = [i for i, name in enumerate(self.names) if counts[name] >= MIN_IMAGES_PER_PERSON]
        dropped = [(name, "only one usable image (a person needs two to form a positive pair)")
                   for name in self.names if 0 < counts[name] < MIN_IMAGES_PER_PERSON]
        result = self.subset(keep)
        return ChipSet(result.names, result.labels, result.chips, self.skipped + dropped)

    def require_people(self, minimum: int, role: str) -> "ChipSet":
        if len(self.names) < minimum:
            raise TrainingDataError(
                f"{role} needs at least {minimum} people with two or more usable face images each; "
                f"found {len(self.names)}" + (f" ({len(self.skipped)} image(s) or people skipped)" if self.skipped else "")
            )
        return self

    def summary(self) -> dict:
        reasons: dict[str, int] = {}
        for _, reason in self.skipped:
            key = reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        return {"people": len(self.names), "images": len(self), "skipped": reasons}


def split_by_identity(data: ChipSet, held_out: float, seed: int = 0) -> tuple[ChipSet, ChipSet]:
    """(train, held-out) with no person in both, ``held_out`` the share of people held out."""
    if not 0.0 < held_out < 1.0:
        raise ValueError("the held-out share must lie between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(data.names))
    count = min(max(2, round(held_out * len(order))), len(order) - 2)
    if count < 2:
        raise TrainingDataError(
            f"splitting by person needs at least 4 people with two or more images (2 to train, 2 to "
            f"evaluate); found {len(order)}")
    return data.subset(sorted(order[count:].tolist())), data.subset(sorted(order[:count].tolist()))


def natural_key(text: str) -> list:
    """s2 before s10."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text)]


def person_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise TrainingDataError(f"{root}: no such folder")
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: natural_key(p.name))
    if not folders:
        raise TrainingDataError(f"{root}: no person folders inside (expected one sub-folder per person)")
    return folders


def image_files(folder: Path) -> list[Path]:
    """Every non-hidden file below a person's folder, in any layout."""
    return sorted((p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts)), key=lambda p: natural_key(str(p)))


def default_cache_dir() -> Path:
    return user_path("ONESHOT_CACHE_DIR", "cache", "training-chips")


Progress = Callable[[int, int, str], None]


def chips_from_folder(root: str | Path, pipeline, crops: bool = False, cache_dir: Path | None = None,
                      progress: Progress | None = None) -> ChipSet:
    """Detect and align every image of ``root/<person>/**`` once (cached); report what was skipped.

    ``crops``: the images are tight face crops (like ORL), one face each: the best detection is
    taken instead of refusing several, and a face touching the border is looked for again on
    a copy with a widened border.
    """
    root = Path(root).resolve()
    files = [(folder.name, path) for folder in person_folders(root) for path in image_files(folder)]
    if not files:
        raise TrainingDataError(f"{root}: the person folders hold no files")
    key = _fingerprint(root, files, pipeline, crops)
    cache = (cache_dir or default_cache_dir()) / f"{key}.npz"
    cached = _read_cache(cache)
    if cached is not None:
        return cached
    data = _collect(root, files, pipeline, crops, progress)
    if not root.is_dir():
        raise TrainingDataError(f"{root}: the folder disappeared while it was being read; nothing was trained")
    _write_cache(cache, data)
    return data


def _collect(root: Path, files, pipeline, crops: bool, progress: Progress | None) -> ChipSet:
    from ..vision.imaging import load_image

    owners, chips, skipped = [], [], []
    for done, (person, path) in enumerate(files):
        if progress:
            progress(done, len(files), str(path))
        shown = str(path.relative_to(root))
        try:
            image = load_image(path)
        except (InputError, OSError) as error:
            skipped.append((shown, f"unreadable: {getattr(error, 'reason', error)}"))
            continue
        faces = _faces(image.pixels, pipeline, crops)
        if len(faces) != 1 and not (crops and faces):
            skipped.append((shown, "no face" if not faces else f"{len(faces)} faces (one expected)"))
            continue
        chip_source, face = faces[0]
        owners.append(person)
        chips.append(pipeline.align(chip_source, [face])[0])
    if progress:
        progress(len(files), len(files), "")
    size = pipeline.embedder.chip_size
    return _labelled(owners, np.stack(chips) if chips else np.zeros((0, size, size, 3), np.uint8), skipped)


def _labelled(owners: list[str], chips: np.ndarray, skipped: list | None = None) -> ChipSet:
    """Chips with the name of each one's person -> a ChipSet, people numbered in order of appearance."""
    names = list(dict.fromkeys(owners))
    number = {name: label for label, name in enumerate(names)}
    return ChipSet(names, np.array([number[owner] for owner in owners], dtype=np.int64), chips, skipped or [])


def _faces(pixels: np.ndarray, pipeline, crops: bool) -> list[tuple[np.ndarray, object]]:
    """(pixels the face's coordinates refer to, face), best first."""
    faces = sorted(pipeline.detect(pixels), key=lambda f: -f.score)
    if faces or not crops:
        return [(pixels, f) for f in faces]
    border = max(pixels.shape[:2]) // 2
    import cv2

    widened = cv2.copyMakeBorder(pixels, border, border, border, border, cv2.BORDER_REPLICATE)
    return [(widened, f) for f in sorted(pipeline.detect(widened), key=lambda f: -f.score)]


def _fingerprint(root: Path, files, pipeline, crops: bool) -> str:
    digest = hashlib.sha256()
    for token in (str(root), pipeline.detector.spec.sha256, pipeline.detector.score_threshold,
                  pipeline.detector.nms_threshold, pipeline.embedder.chip_size, crops):
        digest.update(f"{token}\0".encode())
    for _, path in files:
        try:
            stat = path.stat()
        except OSError:
            continue  # gone already: reading it will report it
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:32]


def _read_cache(path: Path) -> ChipSet | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            return ChipSet(meta["names"], stored["labels"].astype(np.int64), stored["chips"],
                           [tuple(item) for item in meta["skipped"]])
    except (OSError, ValueError, KeyError):
        return None  # absent or damaged: collect again


def _write_cache(path: Path, data: ChipSet) -> None:
    """Atomically, so an interrupted write never leaves a cache that loads wrong."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial.npz")
    meta = json.dumps({"names": data.names, "skipped": data.skipped})
    np.savez(temporary, labels=data.labels, chips=data.chips, meta=np.array(meta))
    os.replace(temporary, path)


def chips_from_gallery(gallery) -> ChipSet:
    """The gallery's own stored chips, one label per enrolled person."""
    samples = gallery.samples()
    if not samples:
        raise TrainingDataError(f"{gallery.path}: the gallery has no samples to train on")
    return _labelled([s.name for s in samples], np.stack([s.chip for s in samples]))
