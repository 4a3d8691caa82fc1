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

# Every wait below ends on an event (a signal, a page becoming complete); this is only the cap
# that turns a real hang into a failure, far above any run's length on a loaded 2-core machine.
HANG_MS = 900_000
LEFT = Qt.MouseButton.LeftButton
needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason="training needs the train extra")


@pytest.fixture
def window(make_window, tmp_path, data_dir, private_models):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.open(data_dir / "people" / "barack_obama" / "1.jpg").convert("RGB").resize((640, 480)).save(frames / "0.jpg")
    return make_window(frames)


def wait_ready(qtbot, window) -> None:
    if window.controller.service is None:
        with qtbot.waitSignal(window.controller.ready, timeout=HANG_MS):
            pass


def open_wizard(qtbot, window, folder):
    wait_ready(qtbot, window)
    assert window.actions_by_name["train"].isEnabled()
    wizard = window.open_training()
    page = wizard.data_page
    page.folder.setText(str(folder))
    page.crops.setChecked(True)
    with qtbot.waitSignal(page.completeChanged, timeout=HANG_MS):
        qtbot.mouseClick(page.read_button, LEFT)
    assert page.isComplete(), page.status.text()
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
    train_page = wizard.train_page
    with qtbot.waitSignal(train_page.completeChanged, timeout=HANG_MS):
        wizard.next()
    assert train_page.isComplete(), train_page.phase.text()
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
    with qtbot.waitSignal(window.controller.modelChanged, timeout=HANG_MS) as changed:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert changed.args[0].id == model_id == active_id()
    service = window.controller.service
    assert service.model.id == model_id
    assert window.settings.tau is None  # never set by hand: the new model's calibrated tau is in force
    assert service.tau == pytest.approx(train_page.outcome.tau, abs=1e-4)


@needs_torch
def test_cancel_keeps_a_checkpoint_and_next_resumes(qtbot, window, orl_folder):
    wizard = open_wizard(qtbot, window, orl_folder(range(1, 7), images=3))
    wizard.next()
    quick_settings(wizard, epochs=40)
    wizard.next()
    train_page = wizard.train_page
    with qtbot.waitSignal(train_page.job.progress, timeout=HANG_MS,
                          check_params_cb=lambda item: item[0] == "step" and item[1].step >= 3):
        pass
    with qtbot.waitSignal(train_page.job.finished, timeout=HANG_MS):
        qtbot.mouseClick(train_page.cancel_button, LEFT)
    assert train_page.outcome is not None, train_page.phase.text()
    assert train_page.outcome.model is None and not train_page.isComplete()
    assert (train_page.outcome.run_dir / "checkpoint.pt").is_file()
    assert "Cancelled" in train_page.phase.text()
    wizard.back()
    with qtbot.waitSignal(train_page.completeChanged, timeout=HANG_MS):
        wizard.next()
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
    wait_ready(qtbot, window)
    action = window.actions_by_name["train"]
    assert not action.isEnabled()
    assert 'pip install "oneshot-faceid[train]"' in action.toolTip() and "torch" in action.toolTip()
