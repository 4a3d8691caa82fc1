"""The training wizard walked like a user would: read a folder, train, compare, put the model into service."""

from __future__ import annotations

import os
from importlib.util import find_spec

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QWizard  # noqa: E402

from core.model_store import active_id  # noqa: E402

WAIT_MS = 120_000
LEFT = Qt.MouseButton.LeftButton
needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason="training needs the train extra")


@pytest.fixture
def window(make_window, tmp_path, data_dir, private_models):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.open(data_dir / "people" / "barack_obama" / "1.jpg").convert("RGB").resize((640, 480)).save(frames / "0.jpg")
    return make_window(frames)


def open_wizard(qtbot, window, folder):
    qtbot.waitUntil(lambda: window.engine.pipeline is not None and window.actions_by_name["train"].isEnabled(),
                    timeout=WAIT_MS)
    wizard = window.open_training()
    page = wizard.data_page
    page.folder.setText(str(folder))
    page.crops.setChecked(True)
    qtbot.mouseClick(page.read_button, LEFT)
    qtbot.waitUntil(page.isComplete, timeout=WAIT_MS)
    return wizard


def quick_settings(wizard, epochs):
    settings = wizard.settings_page
    settings.epochs.setValue(epochs)
    settings.people.setValue(2)
    settings.images.setValue(2)
    settings.layers.setValue(1)
    settings.mining.setCurrentText("batch-all")
    settings.margin.setValue(1.0)


@needs_torch
def test_wizard_trains_evaluates_and_activates(qtbot, window, orl_folder):
    wizard = open_wizard(qtbot, window, orl_folder(range(1, 7), images=3))
    data_page = wizard.data_page
    assert data_page.table.rowCount() == 6
    assert "4 to train on, 2 held out" in data_page.status.text()
    wizard.next()
    quick_settings(wizard, epochs=2)
    wizard.next()
    train_page = wizard.train_page
    qtbot.waitUntil(train_page.isComplete, timeout=WAIT_MS)
    assert train_page.bar.value() == train_page.bar.maximum() > 0
    assert train_page.loss_plot.series and len(train_page.loss_plot.series[0].xs) == train_page.bar.maximum()
    model_id = train_page.outcome.model.id
    assert active_id() is None, "nothing is activated before the user says so"
    wizard.next()
    table = wizard.evaluation_page.table
    assert table.rowCount() == 6 and all(table.item(row, 1) is not None for row in range(6))
    assert [s.label for s in wizard.evaluation_page.roc.series] == ["before", "after"]
    wizard.next()
    wizard.activate_page.use_now.setChecked(True)
    with qtbot.waitSignal(window.engine.modelChanged, timeout=WAIT_MS) as changed:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert changed.args[0].id == model_id == active_id()
    qtbot.waitUntil(lambda: window.settings.tau == pytest.approx(train_page.outcome.tau, abs=1e-4), timeout=5000)
    assert window.engine.pipeline.embedder.spec.id == model_id


@needs_torch
def test_cancel_keeps_a_checkpoint_and_next_resumes(qtbot, window, orl_folder):
    wizard = open_wizard(qtbot, window, orl_folder(range(1, 7), images=3))
    wizard.next()
    quick_settings(wizard, epochs=40)
    wizard.next()
    train_page = wizard.train_page
    qtbot.waitUntil(lambda: train_page.bar.value() >= 3, timeout=WAIT_MS)
    qtbot.mouseClick(train_page.cancel_button, LEFT)
    qtbot.waitUntil(lambda: train_page.outcome is not None, timeout=WAIT_MS)
    assert train_page.outcome.model is None and not train_page.isComplete()
    assert (train_page.outcome.run_dir / "checkpoint.pt").is_file()
    assert "Cancelled" in train_page.phase.text()
    wizard.back()
    wizard.next()
    qtbot.waitUntil(lambda: train_page.job.isFinished(), timeout=WAIT_MS)
    assert train_page.isComplete(), train_page.phase.text()
    assert train_page.outcome.details["resumed"] is True
    assert active_id() is None


def test_without_torch_the_wizard_is_offered_disabled_with_the_install_hint(qtbot, make_window, tmp_path, monkeypatch):
    import core.training

    real = core.training.find_spec
    monkeypatch.setattr(core.training, "find_spec", lambda name: None if name == "torch" else real(name))
    frames = tmp_path / "frames"
    frames.mkdir()
    window = make_window(frames)
    qtbot.waitUntil(lambda: window.engine.pipeline is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "pip install" in window.actions_by_name["train"].toolTip(), timeout=WAIT_MS)
    action = window.actions_by_name["train"]
    assert not action.isEnabled()
    assert 'pip install "oneshot-faceid[train]"' in action.toolTip() and "torch" in action.toolTip()
