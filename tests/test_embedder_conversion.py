"""The dlib face ResNet converted to ONNX must read right and embed exactly as dlib does."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import dlib
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image, ImageOps

from core.bench import dlib_model_file
from core.modelbuild.dlib_format import parse_network, read_network
from core.modelbuild.dlib_resnet import build_embedder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "dlib_face_recognition_resnet_model_v1.onnx"
DAT = dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")
FIVE_POINTS = dlib_model_file("shape_predictor_5_face_landmarks.dat")
TOLERANCE = 1e-4


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the model once per session, the way the build writes it."""
    path = tmp_path_factory.mktemp("embedder") / "embedder.onnx"
    path.write_bytes(build_embedder(DAT).SerializeToString(deterministic=True))
    return path


@pytest.fixture(scope="session")
def session(model_path: Path) -> ort.InferenceSession:
    """Load the built file as the app would, on the CPU provider."""
    return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


def _load_rgb(path: Path) -> np.ndarray:
    """Photos as RGB uint8, upright (some JPEGs carry an EXIF rotation), alpha dropped."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


@pytest.fixture(scope="session")
def chips() -> dict[str, np.ndarray]:
    """One 150x150 chip per shared photo, cut by dlib's own detector, landmarks and aligner."""
    if not DATA.is_dir():
        pytest.skip(f"shared test data not found at {DATA}")
    photos = sorted(path for path in (DATA / "people").glob("*/*") if path.is_file())
    assert photos, f"no photos under {DATA / 'people'}"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(FIVE_POINTS))
    found = {}
    for photo in photos:
        image = _load_rgb(photo)
        faces = detector(image, 1)
        assert faces, f"dlib found no face in {photo}"
        face = max(faces, key=lambda box: box.area())
        chip = dlib.get_face_chip(image, predictor(image, face), size=150, padding=0.25)
        found[f"{photo.parent.name}/{photo.name}"] = chip
    return found


@pytest.fixture(scope="session")
def dlib_descriptors(chips: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference: dlib's own network on the same chips."""
    model = dlib.face_recognition_model_v1(str(DAT))
    return {name: np.array(model.compute_face_descriptor(chip)) for name, chip in chips.items()}


def _embed(session: ort.InferenceSession, chips: list[np.ndarray]) -> np.ndarray:
    """Run HWC uint8 chips through the ONNX model as one NCHW float32 batch."""
    batch = np.stack(chips).transpose(0, 3, 1, 2).astype(np.float32)
    return session.run(["embeddings"], {"chips": batch})[0]


def test_parser_finds_the_face_resnet_layers() -> None:
    records = read_network(DAT)

    assert len(records) == 132
    assert Counter(r.kind for r in records) == {
        "input_rgb_image_sized": 1, "con": 29, "affine": 29, "relu": 29, "max_pool": 1,
        "avg_pool": 5, "add_prev": 14, "tag_or_skip": 22, "fc": 1, "loss_metric": 1,
    }
    assert records[0].kind == "input_rgb_image_sized" and records[-1].kind == "loss_metric"
    np.testing.assert_allclose(records[0].params["mean"], [122.782, 117.001, 104.298], rtol=1e-6)
    assert records[0].settings["size"] == (150, 150)

    convs = [r for r in records if r.kind == "con"]
    assert convs[0].params["weight"].shape == (32, 3, 7, 7)
    assert (convs[0].settings["stride"], convs[0].settings["padding"]) == ((2, 2), (0, 0))
    assert [c.settings["num_filters"] for c in convs] == [32] * 7 + [64] * 8 + [128] * 6 + [256] * 8
    down = [c for c in convs[1:] if c.settings["stride"] == (2, 2)]
    assert [c.params["weight"].shape[:2] for c in down] == [(64, 32), (128, 64), (256, 128), (256, 256)]
    assert all(c.settings["padding"] == (0, 0) for c in down)
    for con, affine in zip(convs, (r for r in records if r.kind == "affine")):
        assert con.params["bias"].shape == affine.params["gamma"].shape == affine.params["beta"].shape

    pools = [r.settings for r in records if r.kind in ("max_pool", "avg_pool")]
    assert pools[0] == {"kernel": (3, 3), "stride": (2, 2), "padding": (0, 0)}
    assert pools[-1]["kernel"] == (0, 0)  # avg_pool_everything
    fc = records[-2]
    assert fc.kind == "fc" and fc.params["weight"].shape == (256, 128) and not fc.settings["has_bias"]
    assert records[-1].settings["distance_threshold"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:5_000_000], "byte offset"),
        (lambda data: data.replace(b"loss_metric_2", b"loss_metric_9", 1), "offset 2: expected loss layer"),
        (lambda data: data.replace(b"con_4", b"con_9", 1), "expected layer of a known type"),
        (lambda data: data + b"\x00", "end of the file"),
    ],
    ids=["truncated", "unknown-loss", "unknown-layer", "trailing-bytes"],
)
def test_parser_rejects_damaged_files(damage, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_network(damage(DAT.read_bytes()))


def test_builder_refuses_other_dlib_files() -> None:
    with pytest.raises(ValueError, match="byte offset 2: expected loss layer"):
        build_embedder(FIVE_POINTS)


def _dims(value: onnx.ValueInfoProto) -> list:
    """A graph input's or output's shape, symbolic dimensions by name."""
    return [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim]


def test_model_interface(model_path: Path) -> None:
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version in (8, 9)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    (chips,), (embeddings,) = model.graph.input, model.graph.output
    assert (chips.name, _dims(chips)) == ("chips", ["batch", 3, 150, 150])
    assert (embeddings.name, _dims(embeddings)) == ("embeddings", ["batch", 128])
    props = {p.key: p.value for p in model.metadata_props}
    assert props["source_package"] == "face_recognition_models 0.3.0"
    assert props["source_sha256"] == hashlib.sha256(DAT.read_bytes()).hexdigest()
    assert "CC0" in props["licence"] and "CC0" in model.doc_string
    assert not any(node.op_type == "BatchNormalization" for node in model.graph.node)


@pytest.mark.slow
def test_matches_dlib_on_every_shared_photo(session, chips, dlib_descriptors) -> None:
    errors = {
        name: float(np.abs(_embed(session, [chip])[0] - dlib_descriptors[name]).max()) for name, chip in chips.items()
    }
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOLERANCE, f"{worst} differs from dlib by {errors[worst]:.2e}"


@pytest.mark.slow
def test_one_batch_gives_the_same_embeddings(session, chips, dlib_descriptors) -> None:
    names = list(chips)
    batched = _embed(session, [chips[name] for name in names])
    singles = np.concatenate([_embed(session, [chips[name]]) for name in names])
    np.testing.assert_allclose(batched, singles, rtol=0, atol=1e-5)
    np.testing.assert_allclose(batched, [dlib_descriptors[name] for name in names], rtol=0, atol=TOLERANCE)


def test_build_is_deterministic(model_path: Path) -> None:
    # A second build, this time from the file's bytes (as core.modelbuild passes them).
    assert build_embedder(DAT.read_bytes()).SerializeToString(deterministic=True) == model_path.read_bytes()


def test_shipped_model_is_this_build(model_path: Path) -> None:
    assert SHIPPED.read_bytes() == model_path.read_bytes()
