"""Paths of the files in ``resources/`` (the sample frame, later icons and style sheets)."""

from __future__ import annotations

import os
from pathlib import Path


def resource_dir() -> Path:
    """``ONESHOT_RESOURCE_DIR`` if set, else the ``resources`` package shipped with the app."""
    configured = os.environ.get("ONESHOT_RESOURCE_DIR")
    if configured:
        return Path(configured)
    import resources

    return Path(resources.__file__).resolve().parent


def sample_face() -> Path:
    """A 640x480 frame with one face: the fixed input of ``oneshot bench``."""
    return resource_dir() / "sample_face.jpg"
