"""Privacy: OneShot turns ONNX Runtime's telemetry off before ONNX Runtime is imported.

ONNX Runtime's Linux builds (1.32 measured) write, on import, a persistent device id and an
offline event queue (``deviceid`` and ``onnxruntime.db`` in
``~/.cache/Microsoft/DeveloperTools/.onnxruntime``) and upload the events when online; they
stay quiet on CI machines, so the test removes those signals to see what a user's machine does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What ONNX Runtime reads as "this is a CI machine or its own test run: collect nothing".
QUIET_SIGNALS = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
                 "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
                 "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "ORT_RUNNING_UNIT_TESTS")

RECOGNISE = """
from core.vision.imaging import load_image
from core.vision.pipeline import FacePipeline
from core.resources import sample_face
pipeline = FacePipeline.load("cpu")
assert len(pipeline.analyse(load_image(sample_face()))) == 1
import onnxruntime
print(onnxruntime.__version__)
"""


def test_a_real_session_writes_no_telemetry_under_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {name: value for name, value in os.environ.items()
           if name not in QUIET_SIGNALS and name not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    result = subprocess.run([sys.executable, "-c", RECOGNISE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    written = sorted(str(path.relative_to(home)) for path in home.rglob("*"))
    assert written == [], f"ONNX Runtime {result.stdout.strip()} wrote {written}"


def test_a_user_can_still_opt_in(tmp_path):
    """The switch is a default: ORT_DISABLE_TELEMETRY set by the user is left as it is."""
    code = "import os, core.models.runtime; print(os.environ['ORT_DISABLE_TELEMETRY'])"
    for given, seen in ((None, "1"), ("0", "0"), ("1", "1")):
        env = {name: value for name, value in os.environ.items() if name != "ORT_DISABLE_TELEMETRY"}
        if given is not None:
            env["ORT_DISABLE_TELEMETRY"] = given
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.stdout.strip() == seen, result.stderr
