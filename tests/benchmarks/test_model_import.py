"""Importing a third-party embedder: seconds to import, seconds to re-embed a 1,000-sample
gallery with it, and what the ArcFace framing's black border costs.

The model is the test's ArcFace-shaped network (``tests/test_model_import.py``: fixed batch 2,
NCHW, 112x112, 192-d). The import reads the 16 shared people photos (no chip cache) and does
every check and calibration ``oneshot models import`` does. The gallery holds 1,000 samples of
100 people, made from those photos' chips shifted, mirrored and brightened, so no two chips
are the same; activating re-embeds them and their masked copies. The border: every stored
chip is re-framed for the template, and the ArcFace framing reaches past the dlib chip at the
top and sides (black there); the same faces aligned to the template straight from the photos
show what that costs. Run::

    python -m pytest tests/benchmarks/test_model_import.py --benchmark-only -s
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.evaluation import evaluate
from core.models.activation import activate_model, reembed_gallery
from core.storage.repository import Gallery
from core.training.data import chips_from_folder, image_files, person_folders
from core.training.importing import import_model, sample_chip
from core.vision.align import ARCFACE_112_LANDMARKS, similarity_transform, warp_chip
from core.vision.embed import distance
from core.vision.imaging import load_image
from core.vision.network_input import l2_normalised

pytest.importorskip("torch", reason="building the test model needs the train extra")
from arcface_models import arcface_shaped  # noqa: E402

SAMPLES, PEOPLE = 1000, 100


@pytest.fixture(scope="module")
def imported(pipeline, data_dir, tmp_path_factory):
    """The test model imported once into a store of this module's own (activating it touches no
    other benchmark), faces read from the photos; the seconds it took."""
    model = arcface_shaped(tmp_path_factory.mktemp("third-party") / "arcface_b2.onnx", nhwc=False)
    sample = sample_chip(pipeline)
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ONESHOT_USER_MODELS", str(tmp_path_factory.mktemp("models")))
        started = time.perf_counter()
        spec = import_model(model, "MIT", lambda: (chips_from_folder(data_dir / "people", pipeline, cache_dir=cache),
                                                   "people"), sample, "arc-bench")
        yield spec, time.perf_counter() - started


def varied_chips(chips: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` distinct chips from real ones: shifted up to 3 px, mirrored, brightened."""
    rng = np.random.default_rng(seed)
    picked = chips[np.arange(count) % len(chips)].astype(np.int16)
    for index, chip in enumerate(picked):
        chip = np.roll(chip, tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
        picked[index] = (chip[:, ::-1] if rng.random() < 0.5 else chip) + rng.integers(-20, 21)
    return np.clip(picked, 0, 255).astype(np.uint8)


def test_import_seconds(benchmark, imported):
    spec, seconds = imported
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info["import_seconds"] = seconds
    print(f"\nimport (reading 16 photos, checks, calibration, condition taus): {seconds:.1f} s; "
          f"tau {spec.defaults['tau']:.3f}")
    assert spec.id == "arc-bench"


def test_reembed_a_1000_sample_gallery(benchmark, imported, pipeline, data_dir, tmp_path):
    faces = chips_from_folder(data_dir / "people", pipeline)
    chips = varied_chips(faces.chips, SAMPLES)
    vectors = pipeline.embed(chips)
    with Gallery(tmp_path / "g.db") as gallery:
        for index, (chip, vector) in enumerate(zip(chips, vectors)):
            gallery.enroll(f"person {index % PEOPLE}", chip, vector, pipeline.embedder.spec.id, 1.0, "bench",
                           add_to_existing=index >= PEOPLE)
        started = time.perf_counter()
        embedder, embedded = benchmark.pedantic(lambda: activate_model("arc-bench", gallery, "cpu"), rounds=1)
        seconds = time.perf_counter() - started
        started = time.perf_counter()  # the same gallery again with the shipped model, as a reference
        reembed_gallery(gallery, pipeline.embedder, only_missing=False)
        shipped = time.perf_counter() - started
    started = time.perf_counter()
    embedder.recipe.network_batch(chips)
    reframing = time.perf_counter() - started
    benchmark.extra_info.update(reembed_seconds=seconds, shipped_reembed_seconds=shipped, reframing_seconds=reframing)
    print(f"\nactivate: re-embedded {embedded} samples (and their masked copies) in {seconds:.1f} s; the shipped "
          f"model re-embeds them in {shipped:.1f} s; re-framing the {SAMPLES} chips alone takes {reframing:.2f} s")
    assert embedded == SAMPLES


def test_what_the_black_border_costs(benchmark, imported, pipeline, data_dir):
    """The same photos, the model's input re-framed from the stored chip vs aligned from the photo."""
    from core.models.activation import open_embedder

    embedder = open_embedder(imported[0], "cpu")
    recipe = embedder.recipe
    labels, chips, direct = [], [], []
    for folder in person_folders(data_dir / "people"):
        for path in image_files(folder):
            image = load_image(path)
            face = pipeline.detect(image.pixels)[0]
            labels.append(folder.name)
            chips.append(pipeline.align(image.pixels, [face])[0])
            matrix = similarity_transform(face.landmark_array(), ARCFACE_112_LANDMARKS)
            direct.append(warp_chip(image.pixels, matrix, 112))
    from_chips = embedder.embed(np.stack(chips))
    assert recipe.layout == "NCHW" and recipe.batch == 2 and len(direct) % 2 == 0
    crops = ((np.stack(direct).astype(np.float32) - np.float32(recipe.mean)) / np.float32(recipe.std))
    crops = np.ascontiguousarray(crops.transpose(0, 3, 1, 2))
    from_photos = benchmark.pedantic(lambda: l2_normalised(np.concatenate([
        embedder.session.run(None, {embedder.input_name: crops[i:i + 2]})[0] for i in range(0, len(crops), 2)])),
        rounds=1)
    labels = np.array(labels)
    chip_figures, photo_figures = evaluate(from_chips, labels).metrics, evaluate(from_photos, labels).metrics
    moved = distance(from_chips, from_photos)
    print(f"\nborder: AUC {chip_figures['auc']:.4f} from chips vs {photo_figures['auc']:.4f} from photos, best tau "
          f"{chip_figures['threshold']:.3f} vs {photo_figures['threshold']:.3f}; d(from chip, from photo) mean "
          f"{moved.mean():.4f}, max {moved.max():.4f}")
    assert moved.mean() < chip_figures["threshold"]
