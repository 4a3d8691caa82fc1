"""What ``oneshot info`` reports: versions, execution providers and the shipped models."""

from __future__ import annotations

import platform
from importlib import metadata

from ..errors import OneShotError
from .registry import ModelSpec, file_sha256, shipped_models
from .store import imported_embedders
from .runtime import choose_providers, default_threads, onnxruntime

PACKAGES = ("oneshot-faceid", "numpy", "onnxruntime", "onnxruntime-gpu", "opencv-python-headless", "Pillow")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def collect_info(preference: str = "auto") -> dict:
    """A JSON-ready description of this installation."""
    versions = {"python": platform.python_version()}
    versions.update({name: v for name in PACKAGES if (v := _version(name))})
    ort = onnxruntime()
    available = ort.get_available_providers()
    try:
        choice = choose_providers(preference, available)
        chosen = {"device": choice.device, "providers": list(choice.providers), "reason": choice.reason}
    except OneShotError as error:
        chosen = {"device": None, "providers": [], "reason": str(error)}
    models = [_entry(spec, f"{spec.source['package']} {spec.source['version']}") for spec in shipped_models()]
    # imported models carry a licence the user stated, which About must show beside the shipped ones
    models += [_entry(spec, f"{spec.source['imported_from']} (imported)") for spec in imported_embedders()]
    return {
        "versions": versions,
        "platform": platform.platform(),
        "providers": {"available": available, "chosen": chosen, "threads": default_threads()},
        "models": models,
    }


def _entry(spec: ModelSpec, source: str) -> dict:
    actual = file_sha256(spec.path) if spec.path.is_file() else None
    return {"id": spec.id, "task": spec.task, "file": str(spec.path), "sha256": spec.sha256,
            "intact": actual == spec.sha256, "licence": spec.licence, "source": source}


def format_info(info: dict) -> str:
    """The human-readable form of ``collect_info``."""
    lines = ["versions:"]
    lines += [f"  {name} {version}" for name, version in info["versions"].items()]
    providers = info["providers"]
    lines.append(f"execution providers available: {', '.join(providers['available'])}")
    lines.append(f"chosen: {providers['chosen']['device']} ({providers['chosen']['reason']}), "
                 f"{providers['threads']} CPU threads")
    lines.append("models:")
    for model in info["models"]:
        state = "ok" if model["intact"] else "MISSING OR DAMAGED"
        lines.append(f"  {model['id']} ({model['task']}, {model['licence']}, from {model['source']}): "
                     f"{model['file']} sha256 {model['sha256']} [{state}]")
    return "\n".join(lines)
