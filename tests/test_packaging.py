"""The Linux installer, built and run as a user would: no Python environment on PATH.

Builds the runtime bundle with ``packaging/build.py`` (a few minutes), unpacks the ``.deb``
into a temporary root (no system install), then runs the installed binary's self-test, a
command-line enrolment and a GUI smoke start that must name the enrolled face.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from core.bench import letterbox
from core.vision.imaging import load_image
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(platform.system() != "Linux", reason="the .deb and .tar.gz are built on Linux"),
]


@pytest.fixture(scope="module")
def installers(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--fast", "--out", str(out),
                    "--work", str(tmp_path_factory.mktemp("build"))], check=True, cwd=ROOT)
    return {path.suffix: path for path in out.iterdir() if path.is_file()}


@pytest.fixture(scope="module")
def installed(installers, tmp_path_factory):
    """The .deb's files unpacked under a temporary root."""
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(installers[".deb"]), str(root)], check=True)
    return root


def bare_env(home, **extra) -> dict:
    """No virtual environment, no Python on PATH: only the system's basic tools."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **extra}


def test_deb_layout(installed):
    assert os.access(installed / "opt" / "oneshot" / "oneshot", os.X_OK)
    assert os.readlink(installed / "usr" / "bin" / "oneshot") == "/opt/oneshot/oneshot"
    entry = (installed / "usr" / "share" / "applications" / "oneshot.desktop").read_text()
    assert "Exec=/opt/oneshot/oneshot" in entry and "Icon=oneshot" in entry
    assert (installed / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps" / "oneshot.svg").is_file()
    internal = installed / "opt" / "oneshot" / "_internal"
    assert (internal / "models" / "centerface.onnx").is_file()
    assert (internal / "models" / "LICENSES" / "dlib-resnet-CC0.txt").is_file()
    for model in ("minifasnet-v2.onnx", "minifasnet-v1se.onnx", "occlusion-v1.onnx", "yunet_n.onnx"):
        assert (internal / "models" / model).is_file(), model  # liveness, masks, the live detector
    # the shipped manifests and nothing else: a trained or imported model lives in the user's store only
    shipped = {path.name for path in (Path(__file__).resolve().parents[1] / "models").glob("*.json")}
    assert {path.name for path in (internal / "models").glob("*.json")} == shipped
    assert not (internal / "torch").exists()


def test_self_test_runs_without_python(installed, tmp_path):
    binary = installed / "opt" / "oneshot" / "oneshot"
    result = subprocess.run([str(binary), "--self-test"], env=bare_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: detect, align, embed and match work on CPU")
    # no keyring service in a bare environment: the throwaway gallery's key went to a key file, then was deleted
    assert result.stdout.rstrip().endswith(f"gallery encrypted (key file in {tmp_path}/.config/OneShot/keys)")
    assert not any((tmp_path / ".config" / "OneShot" / "keys").iterdir())


def test_tarball_runs_too(installers, tmp_path):
    with tarfile.open(installers[".gz"]) as archive:
        archive.extractall(tmp_path, filter="tar")
    (folder,) = tmp_path.iterdir()
    result = subprocess.run([str(folder / "oneshot"), "--self-test"], env=bare_env(tmp_path), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_gui_identifies_an_enrolled_face(installed, tmp_path, people):
    binary = str(installed / "opt" / "oneshot" / "oneshot")
    gallery = tmp_path / "gallery.db"
    # the frames are a photo played as the camera: liveness (on by default) would rightly call it one
    env = bare_env(tmp_path, ONESHOT_GALLERY=str(gallery), QT_QPA_PLATFORM="offscreen", ONESHOT_LIVENESS="0")
    enrolled = subprocess.run([binary, "enroll", "barack_obama", str(people["barack_obama"][0])], env=env,
                              capture_output=True, text=True, timeout=120)
    assert enrolled.returncode == 0, enrolled.stderr
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(10):
        Image.fromarray(letterbox(load_image(people["barack_obama"][1]).pixels)).save(frames / f"{n}.jpg")
    shown = subprocess.run([binary, "gui", "--source", str(frames), "--check-frames", "3"], env=env,
                           capture_output=True, text=True, timeout=180)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout.strip().splitlines()[-1])
    assert (report["frames_with_faces"], report["names"]) == (3, ["barack_obama"])
    assert report["fps"] > 0 and report["rss_mb"]["at_end"] > 0  # the soak figures the smoke run prints
