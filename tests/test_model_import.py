"""Importing a third-party ArcFace-style embedder: graph reading, re-framing, checks, calibration, switching.

The imported networks are built by the tests (``arcface_models``), once NCHW at a fixed batch
of 2 and once NHWC with a free batch; they really tell faces apart, as a downloaded ArcFace
would, so the import's separation check passes for them and fails only where it should. The
refused ones are one-purpose graphs made here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.models.store import active_id, get_embedder
from core.storage.repository import Gallery
from core.vision.align import ARCFACE_112_LANDMARKS, chip_landmarks, chip_to_template, similarity_transform, warp_chip
from core.vision.imaging import load_image
from test_cli import run

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402  (after the skips: the train extra)
from arcface_models import arcface_shaped  # noqa: E402


def tiny_graph(path, nodes, image, vector, initializers=()):
    """A one-purpose ONNX file for a refusal."""
    model = helper.make_model(helper.make_graph(nodes, "refused", [image], [vector], list(initializers)),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


IMAGE = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 112, 112])
VECTOR = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
POOLED = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["f"])]


@pytest.fixture(scope="session")
def models_built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("third-party")
    scale = lambda value: helper.make_tensor("k", TensorProto.FLOAT, [], [value])  # noqa: E731
    return {
        "nchw": arcface_shaped(folder / "arcface_b2.onnx", nhwc=False),
        "nhwc": arcface_shaped(folder / "arcface_nhwc.onnx", nhwc=True),
        "junk": _write(folder / "junk.onnx", np.random.default_rng(1).bytes(4096)),
        "int": tiny_graph(folder / "int.onnx", [helper.make_node("Cast", ["x"], ["c"], to=TensorProto.FLOAT),
                                                helper.make_node("GlobalAveragePool", ["c"], ["p"]),
                                                helper.make_node("Flatten", ["p"], ["y"])],
                          helper.make_tensor_value_info("x", TensorProto.INT64, ["n", 3, 112, 112]), VECTOR),
        "rank3": tiny_graph(folder / "rank3.onnx", [helper.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=0)],
                            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 112, 112]),
                            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 112])),
        "image_out": tiny_graph(folder / "image_out.onnx",
                                [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)], IMAGE,
                                helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 112, 112])),
        "nan": tiny_graph(folder / "nan.onnx", [*POOLED, helper.make_node("Mul", ["f", "k"], ["y"])], IMAGE, VECTOR,
                          [scale(float("nan"))]),
        "constant": tiny_graph(folder / "constant.onnx", [*POOLED, helper.make_node("Mul", ["f", "k"], ["y"])], IMAGE,
                               VECTOR, [scale(0.0)]),
    }


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.fixture
def one_shot_gallery(tmp_path, people, pipeline):
    """A real gallery: the first photo of each shared person, embedded by the shipped model."""
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        for name, photos in people.items():
            image = load_image(photos[0])
            chips = pipeline.align(image.pixels, pipeline.detect(image.pixels)[:1])
            gallery.enroll(name, chips[0], pipeline.embed(chips)[0], pipeline.embedder.spec.id, 1.0, "test")
    return path


def test_a_chip_reframed_for_arcface_puts_its_landmarks_on_the_arcface_template():
    matrix = chip_to_template("arcface-112", 112)
    moved = chip_landmarks() @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(moved - ARCFACE_112_LANDMARKS).max() < 3.0  # two mean faces, one similarity: a few pixels
    assert np.allclose(chip_to_template("dlib-150", 150), [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_the_reframed_chip_matches_the_face_aligned_from_the_photo(people, pipeline):
    """Chip -> ArcFace crop is the photo -> ArcFace crop, inside the chip (outside it is black)."""
    image = load_image(people["barack_obama"][1])
    face = pipeline.detect(image.pixels)[0]
    direct = warp_chip(image.pixels, similarity_transform(face.landmark_array(), ARCFACE_112_LANDMARKS), 112)
    chip = pipeline.align(image.pixels, [face])[0]
    reframed = warp_chip(chip, chip_to_template("arcface-112", 112), 112)
    inside = warp_chip(np.full_like(chip, 255), chip_to_template("arcface-112", 112), 112)[..., 0] == 255
    difference = np.abs(reframed.astype(float) - direct.astype(float))[inside]
    assert inside.mean() > 0.6 and difference.mean() < 6.0


def test_import_reads_the_graph_calibrates_beside_the_shipped_model_and_records_the_licence(
        capsys, models_built, private_models, data_dir):
    code, out, err = run(capsys, "models", "import", models_built["nchw"], "--licence", "Apache-2.0 (test)",
                         "--id", "arc", "--calibrate-on", data_dir / "people", "--json")
    assert code == 0, err
    manifest = json.loads((private_models / "arc.json").read_text())
    recipe = manifest["input"]["from_chip"]
    assert recipe == {"template": "arcface-112", "size": 112, "channels": "RGB", "mean": [127.5] * 3,
                      "std": [127.5] * 3, "layout": "NCHW", "batch": 2, "normalise": "l2"}
    assert manifest["input"]["shape"] == [2, 3, 112, 112] and "(batch, 192)" in manifest["outputs"]["embeddings"]
    assert manifest["licence"]["name"] == "Apache-2.0 (test)"
    assert (private_models / manifest["licence"]["file"]).read_text().strip() == "Apache-2.0 (test)"
    before, after = manifest["metrics"]["before"], manifest["metrics"]["after"]
    assert before["pairs"] == after["pairs"] and after["pairs"]["same"] > 0
    assert after["auc"] > 0.9 and after["rank1"] > 0.9 and before["auc"] > 0.9
    assert 0 < manifest["defaults"]["tau"] < 4 and manifest["defaults"]["tau"] == pytest.approx(after["threshold"],
                                                                                                abs=1e-4)
    taus = manifest["metrics"]["condition_taus"]
    assert taus["calibrated"] and manifest["defaults"]["condition_taus"]["masked"] <= manifest["defaults"]["tau"]
    assert "as trained models" in manifest["import"]["calibration"]
    assert json.loads(out)["model"] == "arc" and active_id() is None, "importing never activates"

    code, out, _ = run(capsys, "models")
    line = next(row for row in out.splitlines() if row.lstrip().startswith("arc "))
    assert "licence: Apache-2.0 (test)" in line and "vs dlib-resnet-v1" in line and "AUC" in line
    code, out, _ = run(capsys, "info")
    assert "arc (embed, Apache-2.0 (test), from arcface_b2.onnx (imported))" in out


def test_a_padded_fixed_batch_gives_each_chip_its_own_vector(models_built, private_models, people, pipeline):
    """Odd batches of the fixed-batch-2 model agree with the free-batch NHWC one row for row."""
    from core.training.importing import import_model
    from core.models.activation import open_embedder

    image = load_image(people["joe_biden"][0])
    chips = np.repeat(pipeline.align(image.pixels, pipeline.detect(image.pixels)[:1]), 3, axis=0)
    chips[1] = chips[1, :, ::-1]  # a mirror: a different input in the middle of the batch
    faces = _folder_faces(people, pipeline), "the shared people"
    fixed = open_embedder(import_model(models_built["nchw"], "MIT", lambda: faces, chips[:1], "fixed"), "cpu")
    free = open_embedder(import_model(models_built["nhwc"], "MIT", lambda: faces, chips[:1], "free"), "cpu")
    assert free.spec.input["from_chip"]["layout"] == "NHWC" and free.spec.input["from_chip"]["batch"] is None
    vectors = fixed.embed(chips)
    assert vectors.shape == (3, 192) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, free.embed(chips), atol=1e-4)
    assert np.allclose(vectors[2], fixed.embed(chips[2:3])[0], atol=1e-5) and not np.allclose(vectors[0], vectors[1])


def _folder_faces(people, pipeline):
    from core.training.data import chips_from_folder

    root = next(iter(people.values()))[0].parents[1]
    return chips_from_folder(root, pipeline)


def test_a_one_shot_gallery_calibrates_against_the_shipped_models_margin_to_strangers(
        capsys, models_built, private_models, one_shot_gallery):
    code, out, err = run(capsys, "models", "import", models_built["nhwc"], "--licence", "MIT", "--id", "arc",
                         "--gallery", one_shot_gallery, "--json")
    assert code == 0, err
    spec = get_embedder("arc")
    assert "one photo per person" in spec.details["import"]["calibration"]
    assert spec.details["metrics"]["after"]["pairs"] == {"same": 0, "different": 15}
    assert 0 < spec.defaults["tau"] < 2 and spec.details["metrics"]["calibration"]["source"] == "the gallery"
    assert spec.details["metrics"]["condition_taus"]["calibrated"] is False  # nobody photographed twice


def test_activate_reembeds_the_gallery_identifies_and_switching_back_loses_nothing(
        capsys, models_built, private_models, one_shot_gallery, people, data_dir, orl_folder):
    code, out, err = run(capsys, "models", "import", models_built["nhwc"], "--licence", "MIT", "--id", "arc",
                         "--calibrate-on", data_dir / "people")
    assert code == 0, err
    with Gallery(one_shot_gallery) as gallery:
        shipped_vectors = gallery.sample_vectors("dlib-resnet-v1")

    code, out, err = run(capsys, "models", "activate", "arc", "--gallery", one_shot_gallery)
    assert code == 0, err
    assert active_id() == "arc" and "6 gallery samples embedded" in err
    code, out, err = run(capsys, "identify", people["barack_obama"][1], people["joe_biden"][1],
                         "--gallery", one_shot_gallery, "--json")
    assert code == 0, err
    named = [face["name"] for result in json.loads(out) for face in result["faces"]]
    assert named == ["barack_obama", "joe_biden"]
    code, _, err = run(capsys, "train", orl_folder(range(1, 5), images=2), "--crops", "--epochs", "1")
    assert code == 2 and "was imported and cannot be fine-tuned" in err.splitlines()[-1]

    code, out, err = run(capsys, "models", "activate", "dlib-resnet-v1", "--gallery", one_shot_gallery)
    assert code == 0 and "0 gallery samples embedded" in err and active_id() == "dlib-resnet-v1"
    with Gallery(one_shot_gallery) as gallery:
        kept = gallery.sample_vectors("dlib-resnet-v1")
        assert kept.keys() == shipped_vectors.keys() and len(gallery.sample_vectors("arc")) == 6
        assert all(np.array_equal(kept[key], shipped_vectors[key]) for key in kept)


@pytest.mark.parametrize(("model", "message"), [
    ("junk", "not an ONNX model ONNX Runtime can load"),
    ("int", "is tensor(int64), not a float image"),
    ("rank3", "not a 4-D image batch"),
    ("image_out", "not one vector per image (N, D)"),
    ("nan", "NaN or infinite values on the self-check faces"),
    ("constant", "the same vector for every self-check face"),
])
def test_bad_models_are_refused_with_the_reason_and_nothing_is_registered(capsys, models_built, private_models,
                                                                         data_dir, model, message):
    code, out, err = run(capsys, "models", "import", models_built[model], "--licence", "MIT",
                         "--calibrate-on", data_dir / "people")
    first = err.strip().splitlines()[-1]
    assert code == 2 and first.startswith(f"oneshot: {models_built[model]}: cannot import this model: ")
    assert message in first and first.endswith("nothing was registered")
    assert not list(private_models.glob("*.json")) and not list(private_models.glob("*.onnx"))
    assert not [p for p in private_models.iterdir() if p.name.startswith(".import-")]


def test_a_model_that_does_not_tell_the_people_apart_is_refused(capsys, models_built, private_models, tmp_path,
                                                                people):
    """The real network, but each folder mixes everyone: as a network that cannot separate faces sees them."""
    mixed = tmp_path / "mixed"
    for index, photo in enumerate(p for photos in people.values() for p in photos):
        folder = mixed / f"group{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}{photo.suffix}").write_bytes(photo.read_bytes())
    code, _, err = run(capsys, "models", "import", models_built["nhwc"], "--licence", "MIT", "--calibrate-on", mixed)
    assert code == 2 and "does not separate the self-check people" in err and not list(private_models.iterdir())


def test_the_framing_follows_the_input_size_unless_overridden():
    from core.errors import ModelImportError
    from core.models.graph_layout import GraphLayout
    from core.training.importing import Framing, recipe_for

    layout = lambda size: GraphLayout("x", [1, size, size, 3], "NHWC", size, 1, 256)  # noqa: E731
    assert recipe_for(layout(150), Framing(), "m.onnx").template == "dlib-150"
    custom = recipe_for(layout(112), Framing("dlib-150", (0.0,) * 3, (255.0,) * 3, bgr=True), "m.onnx")
    assert custom.manifest() == {"template": "dlib-150", "size": 112, "channels": "BGR", "mean": [0.0] * 3,
                                 "std": [255.0] * 3, "layout": "NHWC", "batch": 1, "normalise": "l2"}
    with pytest.raises(ModelImportError, match="128x128 input matches no known framing; name one with --template"):
        recipe_for(layout(128), Framing(), "m.onnx")


def test_a_cancelled_import_registers_nothing(models_built, private_models, people, pipeline):
    from core.errors import ModelImportError
    from core.training.importing import import_model, sample_chip

    asked = []
    faces = _folder_faces(people, pipeline), "the shared people"
    with pytest.raises(ModelImportError, match="cancelled; nothing was registered"):
        import_model(models_built["nhwc"], "MIT", lambda: faces, sample_chip(pipeline),
                     should_stop=lambda: asked.append(1) or len(asked) > 2)
    assert len(asked) == 3 and not list(private_models.iterdir())


def test_a_mean_or_std_is_one_number_or_three(capsys, models_built):
    from core.vision.network_input import channel_values

    assert channel_values(["127.5"]) == (127.5,) * 3 and channel_values(["1", "2", "3"]) == (1.0, 2.0, 3.0)
    for wrong in (["1", "2"], ["a"], []):
        with pytest.raises(ValueError):
            channel_values(wrong)
    code, _, err = run(capsys, "models", "import", models_built["nchw"], "--licence", "MIT", "--mean", "1,2")
    assert code == 2 and "one number or three comma-separated numbers, not '1,2'" in err
