"""Import a third-party ArcFace-style embedder: read its graph, check it on real faces, calibrate, register.

read the input layout and vector length from the graph (``core.models.graph_layout``) -> the
chip recipe (template from the input size, ArcFace's RGB and (x - 127.5) / 127.5 unless told
otherwise) -> self-check on the bundled sample face and the calibration faces (finite
outputs, not one vector for everyone, different people farther apart than the same person)
-> tau and the figures beside the shipped model's on the same faces -> a tau per face
condition as for trained models -> register. Every check runs on a copy inside the store's
folder before anything is registered, so a refusal leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ModelImportError
from ..evaluation import evaluate, pair_distances
from ..models.activation import open_embedder
from ..models.graph_layout import GraphLayout, graph_layout, open_graph
from ..models.registry import ModelSpec, find_model, verify_file
from ..models.store import manifest_path, register_imported, scaled_defaults, user_model_dir
from ..vision.align import CHIP_PADDING, CHIP_SIZE, TEMPLATES
from ..vision.condition import ConditionTaus
from ..vision.embed import FaceEmbedder
from ..vision.imaging import load_image
from ..vision.network_input import ChipInput
from ..resources import sample_face
from . import missing_packages
from .data import ChipSet

TEMPLATE_OF_SIZE = {112: "arcface-112", 150: "dlib-150"}
ARCFACE_MEAN = ARCFACE_STD = (127.5, 127.5, 127.5)
MIN_AUC = 0.6  # at or below it the network does not tell the self-check people apart
MIN_PEOPLE = 2
# With no one photographed twice (a one-shot gallery), tau keeps the shipped model's margin to
# the closest strangers: the same ratio to this quantile of the different-person distances.
STRANGER_QUANTILE = 0.05


@dataclass(frozen=True)
class Framing:
    """What the user may say instead of what the graph implies (None: the default)."""

    template: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    bgr: bool = False


def recipe_for(layout: GraphLayout, framing: Framing, source: str) -> ChipInput:
    """The chip recipe: the template from the input size unless ``framing`` names one."""
    template = framing.template or TEMPLATE_OF_SIZE.get(layout.size)
    if template is None:
        raise ModelImportError(source, f"its {layout.size}x{layout.size} input matches no known framing; "
                                       f"name one with --template ({' or '.join(TEMPLATES)})")
    if template not in TEMPLATES:
        raise ModelImportError(source, f"unknown template {template!r} (known: {', '.join(TEMPLATES)})")
    std = framing.std or ARCFACE_STD
    if min(std) <= 0:
        raise ModelImportError(source, f"--std must be positive, got {list(std)}")
    return ChipInput(template, layout.size, "BGR" if framing.bgr else "RGB", framing.mean or ARCFACE_MEAN, std,
                     layout.layout, layout.batch)


def sample_chip(pipeline) -> np.ndarray:
    """The (1, 150, 150, 3) chip of the bundled sample face: the first self-check face."""
    image = load_image(sample_face())
    return pipeline.align(image.pixels, pipeline.detect(image.pixels)[:1])


def default_model_id(file: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", file.stem.lower()).strip("-") or "imported"


def import_model(file: Path, licence: str, faces: Callable[[], tuple[ChipSet, str]], sample: np.ndarray,
                 model_id: str | None = None, framing: Framing = Framing(),
                 should_stop: Callable[[], bool] = lambda: False) -> ModelSpec:
    """Check, calibrate and register ``file``; return its spec.

    ``faces()`` gives the faces to check and calibrate on (one label per person) and where they
    came from; it is called once the graph has passed, so a wrong file is refused before any
    photo is read. ``sample`` is ``sample_chip(pipeline)``. Raises ``ModelImportError``
    (nothing registered) for any model or data it cannot take, and when ``should_stop()``
    turns true at a phase or between chunks of the condition calibration.
    """
    source = str(file)

    def check() -> None:
        if should_stop():
            raise ModelImportError(source, "cancelled")

    model_id = model_id or default_model_id(file)
    if not licence.strip():
        raise ModelImportError(source, "give its licence (--licence), which is recorded with it and shown in About")
    if manifest_path(model_id).exists():
        raise ModelImportError(source, f"a model {model_id!r} already exists; choose another --id")
    if not file.is_file():
        raise ModelImportError(source, "no such file")
    shipped = find_model("embed")
    verify_file(shipped)
    folder = user_model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".import-") as scratch:
        copy = Path(scratch) / "model.onnx"
        shutil.copyfile(file, copy)
        session = open_graph(copy, source)
        layout = graph_layout(session, source)
        recipe = recipe_for(layout, framing, source)
        data, data_source = faces()
        check()
        people = len(np.unique(data.labels))
        if people < MIN_PEOPLE:
            raise ModelImportError(source, f"calibrating needs faces of at least {MIN_PEOPLE} people, "
                                           f"{data_source} has {people}")
        candidate = _candidate_spec(copy, layout, recipe, shipped, licence)
        vectors = FaceEmbedder(session, candidate).embed(np.concatenate([sample, data.chips]))
        _self_check(vectors, source)
        candidate = replace(candidate, outputs=_outputs(vectors.shape[1]))  # a free vector length is known now
        vectors = vectors[1:]
        check()
        reference = open_embedder(shipped, "cpu").embed(data.chips)
        calibration = calibrate(vectors, reference, data.labels, float(shipped.defaults["tau"]), source)
        calibration["data"] = {"source": data_source, "people": people, "images": len(data)}
        taus = _condition_taus(shipped, candidate, calibration["tau"], data, check)
        fields = {
            "name": f"imported from {file.name}",
            "source": {"imported_from": file.name, "network": f"third-party embedder ({layout.layout}, "
                                                                 f"{layout.size}x{layout.size}, {vectors.shape[1]}-d)"},
            "input": candidate.input,
            "outputs": candidate.outputs,
            "defaults": scaled_defaults(shipped, calibration["tau"],
                                        {name: value for name, value in taus["after"].items() if name != "clear"}),
            "import": {"compared_with": shipped.id, "calibration": calibration["method"]},
            "metrics": {"before": calibration["shipped"], "after": calibration["imported"],
                        "calibration": calibration["data"], "condition_taus": taus},
            "rebuild": f"oneshot models import {file.name} (a third-party file: keep a copy)",
        }
        check()  # the last cancel point: from here on the model is in the store
        return register_imported(copy, model_id, licence.strip(), fields)


def _candidate_spec(copy: Path, layout: GraphLayout, recipe: ChipInput, shipped: ModelSpec, licence: str) -> ModelSpec:
    """The manifest-to-be as a spec, so the embedder and the calibration read it as they will later."""
    shape = [layout.batch or "batch", *layout.input_shape[1:]]
    return replace(shipped, id="candidate", path=copy, sha256="", licence=licence,
                   input={"name": layout.input_name, "shape": shape, "dtype": "float32",
                          "chip": {"size": CHIP_SIZE, "padding": CHIP_PADDING}, "from_chip": recipe.manifest()},
                   outputs=_outputs(layout.dimensions), details={})


def _outputs(dimensions: int | None) -> dict:
    return {"embeddings": f"(batch, {dimensions or 'D'}) float32 descriptor, L2-normalised; distance = squared L2"}


def _self_check(vectors: np.ndarray, source: str) -> None:
    """Refuse NaN or infinite outputs and one vector for every face."""
    if not np.isfinite(vectors).all():
        raise ModelImportError(source, "its output has NaN or infinite values on the self-check faces")
    if float(np.abs(vectors - vectors[0]).max()) < 1e-6:
        raise ModelImportError(source, "it gives the same vector for every self-check face")


def calibrate(vectors: np.ndarray, reference: np.ndarray, labels: np.ndarray, reference_tau: float,
              source: str) -> dict:
    """tau and the figures of both models on the same faces, or ``ModelImportError`` when the
    network does not separate them (AUC at most ``MIN_AUC``, or strangers closer than one person).

    With anyone photographed twice: tau at the best balanced accuracy, as for trained models.
    Otherwise tau keeps the reference model's ratio to the ``STRANGER_QUANTILE`` of the
    different-person distances.
    """
    distances, same = pair_distances(vectors, labels)
    if same.any():
        imported, shipped = evaluate(vectors, labels).metrics, evaluate(reference, labels).metrics
        if imported["auc"] <= MIN_AUC:
            raise ModelImportError(source, f"it does not separate the self-check people (ROC AUC "
                                           f"{imported['auc']:.3f}, at most {MIN_AUC}; the shipped model: "
                                           f"{shipped['auc']:.3f})")
        return {"tau": imported["threshold"], "imported": _rounded(imported), "shipped": _rounded(shipped),
                "method": "best balanced accuracy over every same- and different-person pair (as trained models)"}
    theirs = pair_distances(reference, labels)[0]
    mine, ours = np.quantile(distances, STRANGER_QUANTILE), np.quantile(theirs, STRANGER_QUANTILE)
    if mine <= 0:
        raise ModelImportError(source, "it puts different self-check people at distance 0")
    tau = reference_tau * float(mine / ours)
    pairs = {"same": 0, "different": int(len(distances))}
    return {"tau": tau, "imported": {"threshold": round(tau, 6), "pairs": pairs},
            "shipped": {"threshold": reference_tau, "pairs": pairs},
            "method": f"one photo per person: tau keeps the shipped model's ratio to the {STRANGER_QUANTILE:.0%} "
                      "quantile of different-person distances"}


def _rounded(metrics: dict) -> dict:
    return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in metrics.items()}


def _condition_taus(shipped: ModelSpec, candidate: ModelSpec, tau: float, data: ChipSet,
                    check: Callable[[], None]) -> dict:
    """A tau per face condition, calibrated as for trained models (torch paints the masks);
    without torch, the shipped model's scaled to the new tau."""
    if missing_packages():
        present = ConditionTaus.from_defaults(shipped.defaults)
        return {"before": present.table(float(shipped.defaults["tau"])), "after": present.table(tau),
                "calibrated": False, "note": "the train extra is not installed: the shipped model's condition "
                                             "taus, scaled to the new clear tau"}
    from .workflow import condition_taus

    return condition_taus(shipped, candidate, tau, data, check)
