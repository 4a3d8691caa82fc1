"""The embedders a user has: the shipped one, the ones they trained, and which one is active.

Trained models live in the per-user data folder (``ONESHOT_USER_MODELS`` overrides it), each
as ``<id>.onnx`` beside a manifest in the shipped format plus its lineage (parent, training
data, metrics, calibrated tau). ``active.json`` names the active embedder; without it the
shipped one is active. Registering never activates: the running model changes only when the
user says so, and the previous one stays to switch back to.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError, ModelError, UnknownModelError
from .registry import ModelSpec, file_sha256, find_model, read_manifest
from ..paths import user_path

ACTIVE_FILE = "active.json"


def user_model_dir() -> Path:
    return user_path("ONESHOT_USER_MODELS", "data", "models")


def trained_embedders(folder: Path | None = None) -> list[ModelSpec]:
    """The user's trained embedders, oldest first; a damaged manifest is skipped, not fatal."""
    folder = folder or user_model_dir()
    specs = []
    for manifest in folder.glob("*.json"):
        if manifest.name == ACTIVE_FILE:
            continue
        try:
            specs.append(read_manifest(manifest))
        except ModelError:
            continue
    return sorted((s for s in specs if s.task == "embed"), key=lambda s: s.details.get("created", ""))


def is_imported(spec: ModelSpec) -> bool:
    """A third-party embedder, or a copy of one (an FP16 copy keeps its source): its licence is
    the one its user stated, and theirs to answer for."""
    return "imported_from" in spec.source


def imported_embedders(folder: Path | None = None) -> list[ModelSpec]:
    """The user's imported embedders (and copies of them), oldest first."""
    return [spec for spec in trained_embedders(folder) if is_imported(spec)]


def embedders(model_dir: Path | None = None) -> list[ModelSpec]:
    """The shipped embedder first, then the trained ones."""
    return [find_model("embed", model_dir), *trained_embedders()]


def get_embedder(model_id: str, model_dir: Path | None = None) -> ModelSpec:
    known = embedders(model_dir)
    for spec in known:
        if spec.id == model_id:
            return spec
    raise UnknownModelError(model_id, [spec.id for spec in known])


def active_id() -> str | None:
    """The id ``active.json`` names, or None (the shipped embedder)."""
    path = user_model_dir() / ACTIVE_FILE
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["embed"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise ModelError(f"{path}: unreadable choice of active model; delete it to use the shipped model") from None


def active_embedder(model_dir: Path | None = None) -> ModelSpec:
    """The embedder whose vectors the gallery matches against."""
    chosen = active_id()
    if chosen is None:
        return find_model("embed", model_dir)
    try:
        return get_embedder(chosen, model_dir)
    except UnknownModelError:
        shipped = find_model("embed", model_dir).id
        raise ModelError(f"the active model {chosen!r} is gone from {user_model_dir()}; "
                         f"switch back with `oneshot models activate {shipped}`") from None


def set_active(model_id: str, model_dir: Path | None = None) -> ModelSpec:
    """Record ``model_id`` as active (atomically). Re-embedding the gallery is the caller's job."""
    spec = get_embedder(model_id, model_dir)
    folder = user_model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (ACTIVE_FILE + ".partial")
    partial.write_text(json.dumps({"embed": spec.id}), encoding="utf-8")
    os.replace(partial, folder / ACTIVE_FILE)
    return spec


def manifest_path(model_id: str) -> Path:
    """Where the store keeps (or would keep) the manifest of ``model_id``."""
    return user_model_dir() / f"{model_id}.json"


def trained_model_id(parent: ModelSpec) -> str:
    """``<base>-ft-<UTC time>``: a new id per training run, free in the store."""
    model_id = f"{parent.id.split('-ft-')[0]}-ft-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    while manifest_path(model_id).exists():  # two runs within one second
        model_id += "b"
    return model_id


def register_embedder(onnx_file: Path, parent: ModelSpec, model_id: str, name: str, tau: float,
                      details: dict, rebuild: str, condition_taus: dict | None = None) -> ModelSpec:
    """Move an ONNX file derived from ``parent`` into the store as model ``model_id``; return its spec.

    ``details`` (how it was made and measured) go into the manifest beside the lineage.
    ``condition_taus`` (absolute, calibrated for this model) default to the parent's scaled to
    ``tau`` like ``duplicate_tau``, so a copy never loses the stricter taus of masked faces.
    """
    scale = tau / float(parent.defaults["tau"])
    if condition_taus is None:
        condition_taus = {name: value * scale for name, value in (parent.defaults.get("condition_taus") or {}).items()}
    licence_file = Path("LICENSES") / parent.licence_path.name
    fields = {
        "name": name,
        "parent": parent.id,
        "licence": {"name": parent.licence, "file": licence_file.as_posix()},
        "source": {"derived_from": parent.id, **parent.source},
        "input": parent.input,
        "outputs": parent.outputs,
        "defaults": scaled_defaults(parent, tau, condition_taus),
        **details,
        "rebuild": rebuild,
    }
    return _register(onnx_file, model_id, fields, lambda path: _copy_licence(parent.licence_path, path))


def register_imported(onnx_file: Path, model_id: str, licence: str, fields: dict) -> ModelSpec:
    """Move a checked third-party ONNX file into the store as ``model_id``, its licence text beside it.

    ``fields`` are the manifest's (name, source, input, outputs, defaults, import, metrics,
    rebuild). The store is the user's data folder, which no installer ever bundles.
    """
    licence_file = Path("LICENSES") / f"{model_id}.txt"
    return _register(onnx_file, model_id, {**fields, "licence": {"name": licence, "file": licence_file.as_posix()}},
                     lambda path: path.write_text(licence + "\n", encoding="utf-8"))


def scaled_defaults(parent: ModelSpec, tau: float, condition_taus: dict) -> dict:
    """A manifest's thresholds: ``tau``, the parent's duplicate tau scaled to it, the condition taus."""
    scale = tau / float(parent.defaults["tau"])
    return {"tau": round(tau, 4),
            "duplicate_tau": round(float(parent.defaults.get("duplicate_tau", parent.defaults["tau"])) * scale, 4),
            **({"condition_taus": {name: round(float(value), 4) for name, value in condition_taus.items()}}
               if condition_taus else {})}


def _copy_licence(source: Path, target: Path) -> None:
    """A parent in the store (a copy of a trained or imported model) has its licence there already."""
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)


def _register(onnx_file: Path, model_id: str, fields: dict, write_licence: Callable[[Path], object]) -> ModelSpec:
    """Licence, model file, then the manifest last (atomically): a model without one is not listed."""
    folder = user_model_dir()
    if manifest_path(model_id).exists():
        raise InputError(f"a model {model_id!r} already exists in {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    licence_path = folder / fields["licence"]["file"]
    licence_path.parent.mkdir(exist_ok=True)
    write_licence(licence_path)
    target = folder / f"{model_id}.onnx"
    shutil.move(str(onnx_file), target)
    manifest = {"id": model_id, "task": "embed", "file": target.name, **fields,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sha256": file_sha256(target), "bytes": target.stat().st_size}
    partial = folder / f"{model_id}.json.partial"
    partial.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(partial, folder / f"{model_id}.json")
    return read_manifest(folder / f"{model_id}.json")
