"""GUI tests: offscreen Qt, settings in a temporary file, no background task outliving a test."""

from __future__ import annotations

import os

import pytest

from gui.workers import wait_for_background_tasks

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the application


@pytest.fixture(autouse=True)
def private_settings(tmp_path, monkeypatch):
    """Nothing a test does reaches the user's real settings file."""
    monkeypatch.setenv("ONESHOT_SETTINGS", str(tmp_path / "settings.json"))


@pytest.fixture(autouse=True)
def background_tasks_finish(qtbot):
    """Every task a test started finishes before the next test begins."""
    yield
    assert wait_for_background_tasks(), "a background task was still running after 10 s"
