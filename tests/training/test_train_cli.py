"""``oneshot train | models | models activate`` as a script uses them, bad input included."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.cli import main  # noqa: E402
from core.gallery import Gallery  # noqa: E402
from core.model_store import active_id  # noqa: E402

METRICS = {"auc", "accuracy", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1"}
QUICK = ["--epochs", "2", "-P", "2", "-K", "2", "--train-layers", "1", "--mining", "batch-all", "--margin", "1.0"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_list_then_activate(capsys, orl_folder, tmp_path, private_models, pipeline):
    data = orl_folder(range(1, 7), images=3)
    gallery_path = tmp_path / "g.db"
    with Gallery(gallery_path) as gallery:  # someone enrolled, to be re-embedded on activation
        gallery.enroll("someone", pipeline.align(*_face(data / "s1" / "1.pgm", pipeline))[0],
                       pipeline.embed(pipeline.align(*_face(data / "s1" / "1.pgm", pipeline)))[0],
                       pipeline.embedder.spec.id, 1.0, "test")

    code, out, err = run(capsys, "train", data, "--crops", "--json", *QUICK)
    assert code == 0, err
    document = json.loads(out)
    assert set(document["before"]) >= METRICS and set(document["after"]) >= METRICS
    assert 0 < document["tau"] < 4 and document["model_id"].startswith("dlib-resnet-v1-ft-")
    assert active_id() is None, "training alone must not change the active model"

    code, out, _ = run(capsys, "models", "--json")
    listing = {row["id"]: row for row in json.loads(out)}
    assert listing["dlib-resnet-v1"]["active"] and not listing[document["model_id"]]["active"]
    assert listing[document["model_id"]]["tau"] == pytest.approx(document["tau"], abs=1e-4)

    code, out, err = run(capsys, "models", "activate", document["model_id"], "--gallery", gallery_path)
    assert code == 0, err
    assert active_id() == document["model_id"]
    with Gallery(gallery_path) as gallery:
        assert len(gallery.sample_vectors(document["model_id"])) == 1
    code, out, _ = run(capsys, "models")
    assert out.splitlines()[1].startswith("* " + document["model_id"])


def _face(path, pipeline):
    from core.imaging import load_image

    pixels = load_image(path).pixels
    return pixels, pipeline.detect(pixels)[:1]


def test_bad_data_is_refused_with_the_reason(capsys, tmp_path, orl_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "train", empty)
    assert code == 2 and "no person folders" in err
    code, _, err = run(capsys, "train", orl_folder([1, 2], images=2, name="two"), "--crops")
    assert code == 2 and "at least 4 people" in err
    code, _, err = run(capsys, "train", orl_folder([1, 2, 3, 4], images=2, name="four"), "--crops", "-K", "1")
    assert code == 2 and "at least 2" in err
    code, _, err = run(capsys, "models", "activate", "no-such-model")
    assert code == 2 and "no model 'no-such-model'" in err


def test_out_of_memory_names_the_batch_and_suggests_a_smaller_one(orl_folder, tmp_path):
    """A real allocation failure: the process may address only 1.5 GB more than after start-up."""
    data = orl_folder([1, 2, 3, 4, 5], images=2)
    script = textwrap.dedent(f"""
        import resource, sys
        import torch, onnxruntime, numpy
        from core.cli import main
        from core.pipeline import FacePipeline
        FacePipeline.load("cpu")  # the runtime's own allocations happen before the limit
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + 1_500_000_000, resource.RLIM_INFINITY))
        sys.exit(main(["train", {str(data)!r}, "--crops", "--epochs", "1", "-P", "4", "-K", "64",
                       "--train-layers", "0", "--mining", "batch-all", "--margin", "1.0"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "out of memory with batches of P x K = 3 x 64" in result.stderr
    assert "choose fewer people per batch (P) or images per person (K)" in result.stderr
