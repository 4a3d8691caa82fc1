"""Fine-tuning the embedding network in PyTorch (the ``train`` extra).

Only the modules that train import torch; this file and ``data`` do not, so the runtime app
can ask whether training is possible, and read training data, without torch installed.
"""

from __future__ import annotations

from importlib.util import find_spec

from ..errors import OneShotError

TRAINING_PACKAGES = ("torch", "onnx")
INSTALL_HINT = 'pip install "oneshot-faceid[train]" (installers: the "full" build)'


def missing_packages() -> list[str]:
    """The training extra's packages that are not installed (empty when training can run)."""
    return [name for name in TRAINING_PACKAGES if find_spec(name) is None]


def require_training() -> None:
    missing = missing_packages()
    if missing:
        raise OneShotError(f"training needs {' and '.join(missing)}, which are not installed: {INSTALL_HINT}")
