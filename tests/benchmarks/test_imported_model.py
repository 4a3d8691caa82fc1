"""An imported (or trained) embedder beside the shipped one on the shared faces, clean and with a
mask painted on the probes (enrolled as photographed, seen masked: ``evaluate_shifted``). A
third-party model is not in the repository, so name its manifest in your model store (the tests
run on a store of their own)::

    ONESHOT_COMPARE_MODEL=~/.local/share/OneShot/models/<id>.json \
        python -m pytest tests/benchmarks/test_imported_model.py --benchmark-only -s
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.evaluation import evaluate, evaluate_shifted
from core.models.activation import open_embedder
from core.models.registry import find_model, read_manifest
from core.training.data import chips_from_folder
from core.training.shifts import shifted_chips

MASK_SEED = 7
FIGURES = ("auc", "tar_at_far_1e-2", "rank1")


def compare(pipeline, data_dir, manifest: Path) -> list[str]:
    lines = []
    for folder, crops in (("orl", True), ("people", False)):
        faces = chips_from_folder(data_dir / folder, pipeline, crops).trainable()
        masked = shifted_chips(faces.chips, "mask", MASK_SEED)
        for spec in (find_model("embed"), read_manifest(manifest)):
            embedder = open_embedder(spec, "cpu")
            clean = embedder.embed(faces.chips)
            shown = (evaluate(clean, faces.labels).metrics,
                     evaluate_shifted(clean, embedder.embed(masked), faces.labels).metrics)
            lines.append(f"{folder:7}{spec.id:26}" + "  |  ".join(
                f"{kind} " + " ".join(f"{name} {metrics[name]:.4f}" for name in FIGURES)
                for kind, metrics in zip(("clean", "masked"), shown)))
    return lines


def test_imported_model_beside_the_shipped_one(benchmark, pipeline, data_dir):
    manifest = os.environ.get("ONESHOT_COMPARE_MODEL")
    if not manifest:
        pytest.skip("set ONESHOT_COMPARE_MODEL to the manifest of an imported or trained model")
    lines = benchmark.pedantic(compare, args=(pipeline, data_dir, Path(manifest).expanduser()), rounds=1,
                               iterations=1)
    print("\n" + "\n".join(lines))
    assert len(lines) == 4
