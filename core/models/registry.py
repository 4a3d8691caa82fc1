"""The model registry: what each shipped network is, where its file is, and proof it is intact.

Each model has a JSON manifest in ``models/`` (file, sha256, licence, source package, input
and output spec, default thresholds, the command that rebuilt it). Wrappers check their
session against the manifest and fail loudly rather than guess shapes or normalisation.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError

TASKS = ("detect", "embed", "liveness", "occlusion")
DETAIL_KEYS = ("name", "parent", "created", "training", "metrics", "precision", "accuracy", "import")


def default_model_dir() -> Path:
    """``ONESHOT_MODEL_DIR`` if set, else the ``models`` package shipped with the app."""
    configured = os.environ.get("ONESHOT_MODEL_DIR")
    if configured:
        return Path(configured)
    import models

    return Path(models.__file__).resolve().parent


@dataclass(frozen=True)
class ModelSpec:
    """One model as its manifest describes it."""

    id: str
    task: str
    path: Path
    sha256: str
    licence: str
    licence_path: Path
    source: dict = field(repr=False)
    input: dict = field(repr=False)
    outputs: dict = field(repr=False)
    defaults: dict = field(repr=False)
    rebuild: str = field(repr=False)
    details: dict = field(default=None, repr=False)  # derived models: lineage, how made, measured


def read_manifest(manifest_path: Path) -> ModelSpec:
    """Parse one manifest; raise ``ModelError`` saying what is missing or malformed."""
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{manifest_path}: unreadable model manifest ({exc})") from None
    try:
        folder = manifest_path.parent
        spec = ModelSpec(
            id=raw["id"],
            task=raw["task"],
            path=folder / raw["file"],
            sha256=raw["sha256"],
            licence=raw["licence"]["name"],
            licence_path=folder / raw["licence"]["file"],
            source=raw["source"],
            input=raw["input"],
            outputs=raw["outputs"],
            defaults=raw["defaults"],
            rebuild=raw["rebuild"],
            details={key: raw[key] for key in DETAIL_KEYS if key in raw},
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{manifest_path}: model manifest lacks {exc}") from None
    if spec.task not in TASKS:
        raise ModelError(f"{manifest_path}: unknown task {spec.task!r}")
    return spec


def shipped_models(model_dir: Path | None = None) -> list[ModelSpec]:
    """Every model whose manifest lies in the model folder, sorted by id."""
    folder = model_dir or default_model_dir()
    return sorted((read_manifest(p) for p in folder.glob("*.json")), key=lambda s: s.id)


def find_model(task: str, model_dir: Path | None = None) -> ModelSpec:
    """The shipped model for a task (``detect`` or ``embed``)."""
    folder = model_dir or default_model_dir()
    matches = [spec for spec in shipped_models(folder) if spec.task == task]
    if not matches:
        raise ModelError(f"{folder}: no model manifest for the {task!r} task")
    return matches[0]


def shipped_model(model_id: str, task: str, model_dir: Path | None = None) -> ModelSpec:
    """The shipped model ``model_id`` of a task; ``ModelError`` naming the ones there are."""
    folder = model_dir or default_model_dir()
    found = [spec for spec in shipped_models(folder) if spec.task == task]
    for spec in found:
        if spec.id == model_id:
            return spec
    there = ", ".join(spec.id for spec in found) or "none"
    raise ModelError(f"{folder}: no model manifest for the {task!r} model {model_id!r} (found: {there}; reinstall OneShot)")


def find_models(task: str, model_dir: Path | None = None) -> list[ModelSpec]:
    """Every shipped model of a task, sorted by id (liveness combines two networks)."""
    folder = model_dir or default_model_dir()
    matches = [spec for spec in shipped_models(folder) if spec.task == task]
    if not matches:
        raise ModelError(f"{folder}: no model manifest for the {task!r} task")
    return matches


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(spec: ModelSpec) -> None:
    """Raise ``ModelError`` unless the model file exists and matches its manifest's sha256."""
    if not spec.path.is_file():
        raise ModelError(f"{spec.path}: model file missing (reinstall OneShot or rebuild: {spec.rebuild})")
    actual = file_sha256(spec.path)
    if actual != spec.sha256:
        raise ModelError(
            f"{spec.path}: model file is damaged or replaced (sha256 {actual[:12]}..., "
            f"manifest says {spec.sha256[:12]}...)"
        )


def checked_input(session, spec: ModelSpec, what: str) -> str:
    """The name of the session's one input, once it and its single output are what the manifest
    describes (the shape past the batch); else ``ModelError`` saying what was found."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected = list(spec.input["shape"][1:])
    if (len(inputs) != 1 or inputs[0].name != spec.input["name"] or list(inputs[0].shape[1:]) != expected
            or len(outputs) != 1):
        raise ModelError(f"{spec.path}: not the {what} its manifest describes (inputs "
                         f"{[(i.name, i.shape) for i in inputs]}, expected {spec.input['name']} {expected})")
    return inputs[0].name
