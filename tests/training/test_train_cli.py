"""``oneshot train | models | models activate`` as a script uses them, bad input included."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.cli import main  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from core.models.store import active_id  # noqa: E402

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
    assert document["shifted"] is None, "trained for no shift"
    masked = document["masked"]  # evaluated all the same: any fine-tune may undo masked faces
    assert masked["kind"] == "mask" and set(masked["before"]) >= METRICS and set(masked["after"]) >= METRICS
    assert masked["verdict"]["word"] in ("better", "worse", "no measurable change")
    assert document["recommended"] is (not document["worse"] and document["verdict"]["word"] == "better")
    taus = document["condition_taus"]  # two held-out people: too few to calibrate, the parent's scaled
    assert taus["calibrated"] is False and "scaled to the new clear tau" in taus["note"]
    assert taus["before"]["masked"] == pytest.approx(0.24) and taus["after"]["clear"] == pytest.approx(document["tau"])
    assert taus["after"]["masked"] == pytest.approx(0.24 / 0.36 * document["tau"], abs=1e-4)
    manifest = json.loads((private_models / f"{document['model_id']}.json").read_text())
    assert set(manifest["defaults"]["condition_taus"]) == {"masked", "profile", "small", "dark", "masked_masked"}
    assert all(value <= manifest["defaults"]["tau"] for value in manifest["defaults"]["condition_taus"].values())

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
    from core.vision.imaging import load_image

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


@pytest.mark.slow
def test_out_of_memory_names_the_batch_and_suggests_a_smaller_one(orl_folder, tmp_path):
    """A real allocation failure: the process may address only 1.5 GB more than after start-up."""
    data = orl_folder([1, 2, 3, 4, 5], images=2)
    script = textwrap.dedent(f"""
        import resource, sys
        import torch, onnxruntime, numpy
        from core.cli import main
        from core.vision.pipeline import FacePipeline
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


def test_training_for_masks_reports_clean_and_masked_figures_and_verdicts(capsys, orl_folder, private_models):
    data = orl_folder(range(1, 7), images=3)
    code, out, err = run(capsys, "train", data, "--crops", "--json", "--augment-mask", "0.5", *QUICK)
    assert code == 0, err
    document = json.loads(out)
    shifted = document["shifted"]
    assert shifted["kind"] == "mask"
    assert set(shifted["before"]) >= METRICS and set(shifted["after"]) >= METRICS
    same, different = document["before"]["pairs"]["same"], document["before"]["pairs"]["different"]
    assert shifted["before"]["pairs"] == {"same": 2 * same, "different": 2 * different}, "clean i with masked j"
    assert shifted["before"]["rank1"] <= document["before"]["rank1"] + 1e-9  # masks do not help the shipped model
    for verdict in (document["verdict"], shifted["verdict"]):
        assert verdict["word"] in ("better", "worse", "no measurable change") and verdict["low"] <= verdict["high"]
    assert isinstance(document["recommended"], bool)
    assert document["masked"] == shifted, "trained for masks: the masked evaluation is the trained shift's"


def test_condition_taus_are_calibrated_on_the_held_out_people_and_written_to_the_manifest(capsys, orl_folder,
                                                                                          private_models):
    train = orl_folder(range(1, 7), images=3)
    held_out = orl_folder(range(7, 10), images=3, name="held-out")  # three people: enough to calibrate
    code, out, err = run(capsys, "train", train, "--crops", "--json", "--validate-on", held_out, *QUICK)
    assert code == 0, err
    document = json.loads(out)
    taus = document["condition_taus"]
    assert taus["calibrated"] is True and (taus["people"], taus["probes"]) == (3, 6)
    conditions = {"masked", "profile", "small", "dark", "masked_masked"}
    assert set(taus["before"]) == set(taus["after"]) == {"clear", *conditions}
    assert taus["before"]["clear"] == pytest.approx(0.36) and taus["after"]["clear"] == pytest.approx(document["tau"])
    manifest = json.loads((private_models / f"{document['model_id']}.json").read_text())
    written = manifest["defaults"]["condition_taus"]
    assert written == {name: pytest.approx(taus["after"][name], abs=1e-4) for name in conditions}
    assert all(0 <= value <= manifest["defaults"]["tau"] for value in written.values())
    assert manifest["metrics"]["condition_taus"] == taus


def test_training_for_low_resolution_prints_both_columns_and_the_verdict_lines(capsys, orl_folder, private_models):
    data = orl_folder(range(1, 7), images=3)
    code, out, err = run(capsys, "train", data, "--crops", "--augment-lowres", "0.5", *QUICK)
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header == ["before", "after", "low-res", "before", "low-res", "after"]
    assert "clean faces: " in out and "low-res faces: " in out and "interval" in out
    assert "masked faces (each person enrolled as photographed): " in out
    assert "tau per condition (before -> after): clear 0.360 -> " in out and "masked 0.240 -> " in out
    assert "registered " in out


def test_plain_training_has_no_shifted_columns(capsys):
    from core.cli.training import metrics_table

    metrics = {"auc": 1.0, "accuracy": 1.0, "tar_at_far_1e-2": 1.0, "tar_at_far_1e-3": 1.0, "rank1": 1.0,
               "threshold": 0.4, "pairs": {"same": 3, "different": 12}}
    assert metrics_table(metrics, None).splitlines()[0].split() == ["before", "after"]
    wide = metrics_table(metrics, metrics, "mask", metrics, None)
    assert wide.splitlines()[0].split() == ["before", "after", "masked", "before", "masked", "after"]
    assert wide.splitlines()[1].split()[-1] == "-"


def test_shares_outside_zero_to_one_are_refused(capsys, orl_folder):
    code, _, err = run(capsys, "train", orl_folder([1, 2, 3, 4], images=2, name="p"), "--crops",
                       "--augment-mask", "1.5")
    assert code == 2 and "--augment-mask" in err
