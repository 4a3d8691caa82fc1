"""FP16 copies of an embedder for the GPU, kept only when their distances agree with FP32's.

Half precision halves the weights and the memory traffic on CUDA and TensorRT; on the CPU it
is slower (ONNX Runtime computes most of it through casts: 10.2 ms a chip against 5.1 here),
so it is never made or activated on its own. The conversion (ONNX Runtime's own float16
tool, inputs and outputs left float32 so every caller stays the same) needs the ``onnx``
package of the ``train`` extra. The copy is registered only when, on real face chips,
every pairwise distance d(a, b) it computes lies within ``LIMIT`` of the FP32 model's.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .activation import open_embedder
from ..vision.embed import distance
from ..errors import InputError, OneShotError
from ..evaluation import squared_distances
from .store import manifest_path, register_embedder, user_model_dir
from .registry import ModelSpec, verify_file

LIMIT = 1e-2  # largest |d_fp16(a, b) - d_fp32(a, b)| accepted


@dataclass(frozen=True)
class Agreement:
    """How closely the FP16 copy reproduces the FP32 model's distances."""

    chips: int
    pairs: int
    max_pair_error: float  # max over pairs of |d16(a, b) - d32(a, b)|
    mean_pair_error: float
    max_self_distance: float  # max over chips of d(f16(x), f32(x))

    @property
    def acceptable(self) -> bool:
        return self.max_pair_error <= LIMIT


def half_precision_id(parent: ModelSpec) -> str:
    return f"{parent.id}-fp16"


def convert(parent: ModelSpec, destination: Path) -> None:
    """Write an FP16 copy of the parent's graph, float32 at its input and output."""
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:
        raise OneShotError('making an FP16 model needs the onnx package: pip install "oneshot-faceid[train]"') from None
    half = convert_float_to_float16(onnx.load(str(parent.path)), keep_io_types=True)
    onnx.save(half, str(destination))


def agreement(full: np.ndarray, half: np.ndarray) -> Agreement:
    """Compare the two models' descriptors of the same chips."""
    upper = np.triu_indices(len(full), k=1)
    errors = np.abs(squared_distances(half) - squared_distances(full))[upper]
    return Agreement(chips=len(full), pairs=len(errors), max_pair_error=float(errors.max()),
                     mean_pair_error=float(errors.mean()),
                     max_self_distance=float(distance(half, full).max()))


def make_half_precision(parent: ModelSpec, chips: np.ndarray, provider: str = "auto") -> tuple[ModelSpec, Agreement]:
    """Convert, check on ``chips`` (N >= 2 aligned faces) and register the FP16 copy of ``parent``.

    Raises ``OneShotError`` (nothing registered) when the copy's distances stray beyond ``LIMIT``.
    """
    if len(chips) < 2:
        raise InputError("checking an FP16 model needs at least two face chips: enrol people or give photos")
    verify_file(parent)
    model_id = half_precision_id(parent)
    if manifest_path(model_id).exists():  # before the work; register_embedder checks again
        raise InputError(f"{model_id} already exists: activate it with `oneshot models activate {model_id}`")
    with tempfile.TemporaryDirectory(dir=_scratch_dir()) as scratch:
        candidate = Path(scratch) / "half.onnx"
        convert(parent, candidate)
        full = open_embedder(parent, provider).embed(chips)
        half = open_embedder(replace(parent, id=f"{model_id}-candidate", path=candidate), provider).embed(chips)
        measured = agreement(full, half)
        if not measured.acceptable:
            raise OneShotError(f"the FP16 copy of {parent.id} moves distances by up to {measured.max_pair_error:.4f} "
                               f"(limit {LIMIT}); it was not registered")
        spec = register_embedder(candidate, parent, model_id, f"{parent.details.get('name') or parent.id}, FP16",
                                 float(parent.defaults["tau"]),
                                 {"precision": "fp16", "accuracy": {**asdict(measured), "limit": LIMIT}},
                                 f"oneshot models half {parent.id}")
    return spec, measured


def _scratch_dir() -> Path:
    """A folder on the store's own disk, so registering is a rename, not a copy."""
    folder = user_model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder

