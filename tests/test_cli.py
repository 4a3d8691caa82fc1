"""The ``oneshot`` command-line contract: documents, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.resources import sample_face


def console_script() -> str:
    """The installed ``oneshot`` script: the one beside this interpreter (an unactivated venv), else on PATH."""
    beside = Path(sys.executable).parent / "oneshot"
    found = str(beside) if beside.exists() else shutil.which("oneshot")
    return found or pytest.fail("the oneshot console script is not installed")


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def blank(tmp_path_factory):
    path = tmp_path_factory.mktemp("blank") / "wall.png"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(path)
    return path


def test_detect_json_document(capsys, data_dir):
    scene = data_dir / "scenes" / "two_people.jpg"
    code, out, err = run(capsys, "detect", "--json", scene, sample_face())
    assert code == 0 and err == ""
    document = json.loads(out)
    assert [entry["image"] for entry in document] == [str(scene), str(sample_face())]
    assert [len(entry["faces"]) for entry in document] == [2, 1]
    face = document[1]["faces"][0]
    assert set(face) == {"box", "score", "landmarks"}
    x1, y1, x2, y2 = face["box"]
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
    assert 0.6 <= face["score"] <= 1 and np.shape(face["landmarks"]) == (5, 2)


def test_detect_draws_without_overwriting(capsys, tmp_path, people):
    photos = [people["barack_obama"][0], people["joe_biden"][0]]  # both named 1.jpg
    code, out, _ = run(capsys, "detect", "--draw", tmp_path / "drawn", *photos)
    assert code == 0 and "1 face" in out
    drawn = sorted(p.name for p in (tmp_path / "drawn").iterdir())
    assert drawn == ["1.faces-2.jpg", "1.faces.jpg"]
    assert Image.open(tmp_path / "drawn" / "1.faces.jpg").size == Image.open(photos[0]).size


def test_embed_json_adds_128_floats(capsys):
    code, out, _ = run(capsys, "embed", "--json", sample_face())
    face = json.loads(out)[0]["faces"][0]
    assert code == 0 and len(face["embedding"]) == 128


def test_verify_same_and_different(capsys, people):
    obama, biden = people["barack_obama"], people["joe_biden"]
    code, out, _ = run(capsys, "verify", "--json", obama[0], obama[1])
    same = json.loads(out)
    assert code == 0 and same["same"] is True and same["distance"] < same["threshold"] == 0.36
    code, out, _ = run(capsys, "verify", obama[0], biden[0])
    assert code == 0 and out.startswith("different people: distance")


def test_verify_names_the_image_without_a_face(capsys, blank):
    code, out, err = run(capsys, "verify", sample_face(), blank)
    assert code == 2 and out == ""
    assert err.strip() == f"oneshot: {blank}: no face found"


def test_image_without_face_is_a_normal_detect_result(capsys, blank):
    code, out, _ = run(capsys, "detect", "--json", blank)
    assert code == 0 and json.loads(out) == [{"image": str(blank), "faces": []}]


def test_bad_files_give_one_line_each_and_exit_2(capsys, tmp_path):
    text = tmp_path / "photo.jpg"
    text.write_text("hello")
    code, out, err = run(capsys, "detect", "--json", text, tmp_path / "missing.png", sample_face())
    assert code == 2
    assert [entry["image"] for entry in json.loads(out)] == [str(sample_face())]
    lines = err.strip().splitlines()
    assert lines[0] == f"oneshot: {text}: not an image (the content is no known image format)"
    assert lines[1] == f"oneshot: {tmp_path / 'missing.png'}: no such file"
    assert "Traceback" not in err


def test_broken_installation_exits_1(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ONESHOT_MODEL_DIR", str(tmp_path))
    code, _, err = run(capsys, "detect", sample_face())
    assert code == 1 and "no model manifest" in err and "Traceback" not in err


def test_info_lists_providers_and_models(capsys):
    code, out, _ = run(capsys, "info", "--json")
    info = json.loads(out)
    assert code == 0
    assert "CPUExecutionProvider" in info["providers"]["available"]
    assert info["providers"]["chosen"]["reason"]
    assert {m["id"]: m["intact"] for m in info["models"]} == {
        "centerface": True, "dlib-resnet-v1": True, "minifasnet-v2": True, "minifasnet-v1se": True, "occlusion-v1": True,
        "yunet-n": True}


def test_bench_json_contract(capsys):
    """Only the document's shape: speed itself is measured by running the benchmark."""
    code, out, _ = run(capsys, "bench", "--json", "--repeat", "1", "--no-reference")
    report = json.loads(out)
    assert code == 0
    assert {"detect", "align", "embed_batch1", "embed_batch8"} <= set(report["stage_ms"])
    assert report["fps"] == pytest.approx(1000 / report["frame_ms"])
    assert report["live_fps"] == pytest.approx(1000 / report["live_frame_ms"])


@pytest.mark.slow
def test_bench_matrix_json_contract(capsys):
    code, out, _ = run(capsys, "bench", "--matrix", "--json", "--repeat", "1")
    live, full = json.loads(out)
    assert code == 0 and live["detector_long_side"] == 384 and full["detector_long_side"] is None
    cells = {(row["resolution"], row["faces"]) for row in live["rows"]}
    assert cells == {(r, n) for r in ("480p", "720p", "1080p") for n in (1, 4, 16)}
    stages = {"decode", "resize", "detect", "nms", "align", "embed", "match", "track", "paint"}
    assert all(set(row["stage_ms"]) == stages for row in live["rows"] + full["rows"])
    assert all(row["sum_of_stages_ms"] == pytest.approx(sum(row["stage_ms"].values())) for row in live["rows"])
    one_face = [row for row in live["rows"] + full["rows"] if row["faces"] == 1]
    assert all(row["found"] == 1 for row in one_face), "the sample face is found at every size"
    assert live["peak_memory_mb"] > 50


def test_console_script_entry_point(tmp_path):
    oneshot = console_script()
    result = subprocess.run([oneshot, "detect", "--json", str(sample_face())], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)[0]["faces"]) == 1
    result = subprocess.run([sys.executable, "-m", "core.cli", "verify", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_app_without_a_display_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    oneshot = console_script()
    result = subprocess.run([oneshot], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no display" in result.stderr
