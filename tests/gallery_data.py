"""Real chips and vectors for gallery and archive tests that need no face models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MODEL = "dlib-resnet-v1"


def real_chips(data_dir: Path, count: int) -> list[np.ndarray]:
    """150x150 RGB chips cut from the shared photos (real pixels; no network needed)."""
    photos = sorted(p for p in (data_dir / "people").glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    chips = []
    for photo in photos[:count]:
        image = cv2.imread(str(photo))
        side = min(image.shape[:2])
        chips.append(cv2.cvtColor(cv2.resize(image[:side, :side], (150, 150)), cv2.COLOR_BGR2RGB))
    return chips


def unit_vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def passphrase_cipher(protection, passphrase: str):
    """A gallery's field cipher from its protection row and passphrase: what only the key's
    holder can make (the tests that forge or downgrade sealed values need it)."""
    from core.storage.crypto import FieldCipher, PassphraseParameters, unwrap_key

    key = PassphraseParameters.from_dict(protection.parameters).key(passphrase)
    return FieldCipher(unwrap_key(key, protection.wrapped_key, protection.label))


def run_oneshot(capsys, command: str, gallery, *args) -> tuple[int, str, str]:
    """``oneshot COMMAND --gallery GALLERY ARGS...`` in this process: (exit code, stdout, stderr)."""
    from core.cli import main

    code = main([command, "--gallery", str(gallery), *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err
