"""Shared fixtures: the shared photos, the real models, and a loaded pipeline."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def pytest_ignore_collect(collection_path, config):
    """Benchmarks run only when asked for: ``python -m pytest tests/benchmarks --benchmark-only``."""
    if collection_path.name == "benchmarks" and not config.getoption("benchmark_only", False):
        return True
    return None


@pytest.fixture(scope="session", autouse=True)
def private_user_folders(tmp_path_factory):
    """Trained models, training runs, chip caches, settings, the default gallery and gallery keys
    go to temporary places, never the user's; the system keyring is never touched (tests that exercise a
    keyring give it a file-backed one of their own, see test_gallery_encryption.py)."""
    root = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as patch:
        for variable, folder in (("ONESHOT_USER_MODELS", "models"), ("ONESHOT_RUNS_DIR", "runs"),
                                 ("ONESHOT_CACHE_DIR", "cache"), ("ONESHOT_TENSORRT_CACHE", "tensorrt"),
                                 ("ONESHOT_SETTINGS", "settings.json"), ("ONESHOT_KEYS", "keys"),
                                 # the user folders themselves (the default gallery), below any setting
                                 ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                                 ("XDG_CACHE_HOME", "xdg-cache")):
            patch.setenv(variable, str(root / folder))
        patch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        # The stand-in cameras play shared photos, which liveness rightly calls photos held up:
        # off unless a test turns it on (tests/test_liveness_live.py and the liveness GUI test do).
        patch.setenv("ONESHOT_LIVENESS", "0")
        for variable in ("ONESHOT_PASSPHRASE", "ONESHOT_EXPORT_PASSPHRASE", "ONESHOT_KEY_STORE"):
            patch.delenv(variable, raising=False)
        yield root


@pytest.fixture(autouse=True)
def private_runs(tmp_path, monkeypatch):
    """A training-runs folder per test: no test resumes (or finds) the checkpoint of another."""
    monkeypatch.setenv("ONESHOT_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; the tests that need it skip with this reason when it is absent."""
    if not DATA.is_dir():
        pytest.skip(f"shared test photos not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def people(data_dir: Path) -> dict[str, list[Path]]:
    """person -> their photos, sorted (``1.*`` first)."""
    root = data_dir / "people"
    return {
        folder.name: sorted(p for p in folder.iterdir() if p.is_file())
        for folder in sorted(root.iterdir())
        if folder.is_dir()
    }


@pytest.fixture(scope="session")
def labelled_boxes(data_dir: Path) -> dict[Path, list[tuple[int, int, int, int]]]:
    """``detection/training.xml`` as image -> [(x1, y1, x2, y2)]."""
    folder = data_dir / "detection"
    truth = {}
    for image in ET.parse(folder / "training.xml").getroot().iter("image"):
        truth[folder / image.get("file")] = [
            (
                int(box.get("left")),
                int(box.get("top")),
                int(box.get("left")) + int(box.get("width")),
                int(box.get("top")) + int(box.get("height")),
            )
            for box in image.iter("box")
        ]
    return truth


@pytest.fixture(scope="session")
def pipeline():
    """The shipped models on the CPU, loaded once for the whole run."""
    from core.vision.pipeline import FacePipeline

    return FacePipeline.load("cpu")


@pytest.fixture
def orl_folder(tmp_path, data_dir):
    """Factory: ``root/sN/k.pgm`` with copies of the first ``images`` ORL photos of ``people`` people."""

    def make(people, images=4, name="people"):
        root = tmp_path / name
        for person in people:
            (root / f"s{person}").mkdir(parents=True)
            for image in range(1, images + 1):
                source = data_dir / "orl" / f"s{person}" / f"{image}.pgm"
                (root / f"s{person}" / f"{image}.pgm").write_bytes(source.read_bytes())
        return root

    return make


@pytest.fixture
def private_models(tmp_path, monkeypatch):
    """A model store of this test's own, so activating a model touches no other test."""
    folder = tmp_path / "user-models"
    monkeypatch.setenv("ONESHOT_USER_MODELS", str(folder))
    return folder


@pytest.fixture
def model_copy(tmp_path, monkeypatch):
    """A private copy of the model folder, used through ONESHOT_MODEL_DIR."""
    from core.models.registry import default_model_dir

    folder = tmp_path / "models"
    shutil.copytree(default_model_dir(), folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setenv("ONESHOT_MODEL_DIR", str(folder))
    return folder


@pytest.fixture
def obama_service(pipeline, people, tmp_path):
    """Factory: a recognition service on the shared pipeline with Obama enrolled from one photo.

    Keyword arguments are settings (``tau=1.0``...); services are closed and the detector's
    thresholds restored afterwards. Liveness is off unless asked for: the stand-in cameras show
    shared photos, which score as photos held up (tests/test_liveness_live.py covers it).
    """
    from core.storage.repository import Gallery
    from core.vision.imaging import load_image
    from core.live.service import RecognitionService
    from core.settings import Settings

    made = []

    def make(**settings):
        path = tmp_path / "g.db"
        gallery = Gallery(path)
        result = pipeline.analyse(load_image(people["barack_obama"][0]))[0]
        gallery.enroll("Obama", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")
        made.append(RecognitionService(Settings(**{"gallery": str(path), "liveness": False, **settings}), pipeline,
                                       gallery))
        return made[-1]

    yield make
    for service in made:
        service.close()
    pipeline.detector.configure()


@pytest.fixture(scope="session")
def server():
    """A real PostgreSQL server (Debian's binaries) on a free port, for the shared-gallery tests."""
    from postgres_server import PostgresServer, server_binaries

    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (Debian package postgresql) are not installed")
    running = PostgresServer(binaries).start()
    yield running
    running.remove()


@pytest.fixture(scope="session")
def two_people_faces(pipeline, people):
    """(chip, embedding) of two Obama photos and one Biden photo: {"obama": [..2], "biden": ...}."""
    from core.vision.imaging import load_image

    def face(photo):
        result = pipeline.analyse(load_image(photo))[0]
        return result.chip, result.embedding

    return {"obama": [face(photo) for photo in people["barack_obama"][:2]], "biden": face(people["joe_biden"][0])}


class MovableClock:
    """``core.clock.utc_now`` that stands still until a test moves it on (no sleeping)."""

    def __init__(self) -> None:
        from datetime import datetime, timezone

        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> MovableClock:
    """The gallery's clock, moved on by ``clock.advance(seconds)``."""
    import core.clock

    moving = MovableClock()
    monkeypatch.setattr(core.clock, "utc_now", moving)
    return moving
