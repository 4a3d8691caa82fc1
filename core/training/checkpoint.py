"""A run's checkpoint: everything needed to go on from the exact step, in one file.

``checkpoint.pt`` in the run folder holds the settings, the weights being trained, every part
with a ``state_dict`` (optimiser, schedule, gradient scaler, a loss's own parameters), the
augmentation's random generator and the loop's counters. It is written next to the old file
and renamed over it, so a crash mid-write never leaves half a state; and it is refused when
its settings differ from the run's, so a run never resumes with weights trained otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import TrainingError

CHECKPOINT = "checkpoint.pt"


def checkpoint_path(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINT


def save(run_dir: Path, config: dict, weights: Mapping[str, torch.Tensor], parts: Mapping[str, Any],
         generator: torch.Generator, counters: dict) -> Path:
    """Write the whole state atomically; ``parts`` are objects with ``state_dict``."""
    path = checkpoint_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "config": config,
        "weights": dict(weights),
        "parts": {name: part.state_dict() for name, part in parts.items()},
        "generator": generator.get_state(),
        "state": counters,
    }
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)
    return path


def load(run_dir: Path, config: dict, device: torch.device) -> dict | None:
    """The saved state, or None when the run folder has no checkpoint; refuses a damaged file or other settings."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a damaged file: say so, never train on half a state
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]  # torch's text runs to pages
        raise TrainingError(f"{path}: unreadable checkpoint ({reason}); start over with --restart") from None
    if saved.get("config") != config:
        raise TrainingError(f"{path}: checkpoint of a run with other settings; start over with --restart")
    return saved


def restore(saved: dict, parts: Mapping[str, Any], generator: torch.Generator) -> None:
    """Load every part and the generator back from ``saved`` (from ``load``)."""
    for name, part in parts.items():
        part.load_state_dict(saved["parts"][name])
    generator.set_state(saved["generator"].cpu())
