"""The training wizard walked like a user would: read a folder, train, compare, put the model into service.

Set ONESHOT_WIZARD_SCREENSHOTS to a folder to keep pictures of the last two pages of the run.
"""

from __future__ import annotations

import math
import os
from importlib.util import find_spec
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QLabel, QWizard  # noqa: E402

from core.models.store import active_id, trained_embedders  # noqa: E402
from gui.plot import LinePlot, Series, smoothed  # noqa: E402
from gui.training_wizard import HELP, PRESETS, SettingsPage, TrainingWizard  # noqa: E402

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
    page.source.folder.setText(str(folder))
    page.source.crops.setChecked(True)
    with qtbot.waitSignal(page.completeChanged, timeout=HANG_MS):
        qtbot.mouseClick(page.read_button, LEFT)
    assert page.isComplete(), page.status.text()
    return wizard


def training_started(qtbot, window, orl_folder, epochs: int):
    """The wizard on six ORL people (4 to train on, 2 held out), on its train page, training ``epochs`` epochs."""
    wizard = open_wizard(qtbot, window, orl_folder(range(1, 7), images=3))
    wizard.next()
    quick_settings(wizard, epochs=epochs)
    wizard.next()
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
    wizard.settings_page.presets["People wear masks"].setChecked(True)
    train_page = wizard.train_page
    with qtbot.waitSignal(train_page.completeChanged, timeout=HANG_MS):
        wizard.next()
    assert train_page.isComplete(), train_page.phase.text()
    assert train_page.bar.value() == train_page.bar.maximum() > 0
    assert train_page.loss_plot.series and len(train_page.loss_plot.series[0].xs) == train_page.bar.maximum()
    model_id = train_page.outcome.model.id
    assert active_id() is None, "nothing is activated before the user says so"
    wizard.next()
    outcome = train_page.outcome
    assert outcome.shifted is not None and outcome.shifted.kind == "mask" and outcome.shifted.after is not None
    page = wizard.evaluation_page
    table = page.table
    assert [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())] == [
        "Before", "After", "Before, masked", "After, masked"]
    assert table.rowCount() == 6 and all(table.item(row, 3) is not None for row in range(6))
    assert [s.label for s in page.roc.series] == ["before", "after", "before, masked", "after, masked"]
    assert "Masked faces:" in page.verdict.text() and "Clean faces:" in page.verdict.text()
    wizard.next()
    assert wizard.activate_page.use_now.isChecked() == outcome.recommended
    if not outcome.recommended:
        assert "Measurably better" not in wizard.activate_page.text.text()
    conditions = wizard.activate_page.conditions  # clean and masked: before, after, verdict, tau before and after
    assert [conditions.item(row, 0).text() for row in range(conditions.rowCount())] == ["Clean faces", "Masked faces"]
    assert conditions.item(1, 3).text() in ("better", "worse", "no measurable change")
    assert float(conditions.item(1, 5).text()) <= float(conditions.item(0, 5).text()) == pytest.approx(outcome.tau, abs=1e-3)
    assert "scaled to the new clear tau" in wizard.activate_page.taus.text()  # two held-out people: too few
    keep_screenshots(wizard)
    wizard.activate_page.use_now.setChecked(True)
    with qtbot.waitSignal(window.controller.modelChanged, timeout=HANG_MS) as changed:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert changed.args[0].id == model_id == active_id()
    service = window.controller.service
    assert service.model.id == model_id
    assert window.settings.tau is None  # never set by hand: the new model's calibrated tau is in force
    assert service.tau == pytest.approx(train_page.outcome.tau, abs=1e-4)


class BatchesAfterCancel:
    """Counts the training batches reported after the cancel request, on the worker thread itself
    (a direct connection), so no lag in delivering progress to the window can hide one."""

    def __init__(self, job) -> None:
        self.job, self.count = job, 0
        job.progress.connect(self.seen, Qt.ConnectionType.DirectConnection)

    def seen(self, item) -> None:
        self.count += item[0] == "step" and self.job.cancelled()


def assert_nothing_changed(train_page, private_models) -> None:
    outcome = train_page.outcome
    assert outcome is not None and outcome.model is None and not train_page.isComplete(), train_page.phase.text()
    assert active_id() is None and trained_embedders() == []
    assert not list(private_models.glob("**/*.onnx")) and not (outcome.run_dir / "model.onnx").exists()
    text = train_page.phase.text()
    assert "Training was cancelled" in text and "Nothing was changed" in text and "stays in service" in text


@needs_torch
def test_cancel_stops_within_a_batch_changes_nothing_and_next_resumes(qtbot, window, orl_folder, private_models):
    wizard = training_started(qtbot, window, orl_folder, epochs=3)  # 2 batches an epoch: 4 people to train on, P = 2
    train_page = wizard.train_page
    after_cancel = BatchesAfterCancel(train_page.job)
    with qtbot.waitSignal(train_page.job.progress, timeout=HANG_MS, check_params_cb=lambda item: item[0] == "step"):
        pass
    with qtbot.waitSignal(train_page.job.finished, timeout=HANG_MS):
        qtbot.mouseClick(train_page.cancel_button, LEFT)
    assert after_cancel.count <= 1, f"{after_cancel.count} batches trained after Cancel"
    cancelled_at = train_page.steps[-1][0]
    assert cancelled_at < train_page.bar.maximum() == 6
    assert [step for step, _, _ in train_page.steps] == list(range(1, cancelled_at + 1))
    assert_nothing_changed(train_page, private_models)
    assert (train_page.outcome.run_dir / "checkpoint.pt").is_file() and "is kept" in train_page.phase.text()
    wizard.back()
    with qtbot.waitSignal(train_page.completeChanged, timeout=HANG_MS):
        wizard.next()
    assert train_page.isComplete(), train_page.phase.text()
    assert train_page.outcome.details["resumed"] is True
    # the curve goes on: the cancelled run's steps are kept and the resumed run's follow them
    xs = train_page.loss_plot.series[0].xs
    assert xs == list(range(1, train_page.bar.maximum() + 1)) and len(xs) > cancelled_at
    assert train_page.loss_plot.fixed_x == (0, train_page.bar.maximum())
    assert active_id() is None


@needs_torch
def test_a_cancel_after_the_last_epoch_registers_nothing(qtbot, window, orl_folder, private_models):
    wizard = training_started(qtbot, window, orl_folder, epochs=1)
    job = wizard.train_page.job

    def cancel_at_export(item) -> None:  # the moment a user's click lands as the export starts
        if item == ("phase", "Exporting to ONNX and checking it against the trained network"):
            job.cancel()

    job.progress.connect(cancel_at_export, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(job.finished, timeout=HANG_MS):
        pass
    assert job.cancelled() and wizard.train_page.steps[-1][0] == 2, "it was cancelled after training"
    assert_nothing_changed(wizard.train_page, private_models)


@needs_torch
def test_a_cancel_before_training_begins_trains_no_batch(qtbot, window, orl_folder, private_models):
    wizard = training_started(qtbot, window, orl_folder, epochs=1)
    train_page = wizard.train_page
    after_cancel = BatchesAfterCancel(train_page.job)
    job = train_page.job
    job.progress.connect(lambda item: job.cancel(), Qt.ConnectionType.DirectConnection)  # at the first phase
    with qtbot.waitSignal(job.finished, timeout=HANG_MS):
        pass
    assert train_page.steps == [] and after_cancel.count == 0
    assert_nothing_changed(train_page, private_models)
    assert "is kept" not in train_page.phase.text()  # no checkpoint: training never began


def test_the_help_text_is_as_readable_as_the_wizard_text(qtbot):
    """WCAG 2 contrast ratio of each help label's text against the page behind it: at least 4.5."""
    wizard = TrainingWizard(service=None)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()  # the settings page, where the help is
    qtbot.waitExposed(wizard)
    notes = [label for label in wizard.settings_page.findChildren(QLabel) if label.text() in HELP.values()]
    assert len(notes) == 9
    for note in notes:
        note.ensurePolished()
        palette = note.palette()
        ratio = contrast(palette.color(note.foregroundRole()), palette.color(note.backgroundRole()))
        assert ratio >= 4.5, (note.text()[:30], round(ratio, 2))


def contrast(first: QColor, second: QColor) -> float:
    def luminance(colour: QColor) -> float:
        channels = [c / 255 for c in (colour.red(), colour.green(), colour.blue())]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


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


def keep_screenshots(wizard) -> None:
    folder = os.environ.get("ONESHOT_WIZARD_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    wizard.back()
    wizard.grab().save(str(Path(folder) / "training-evaluation.png"))
    wizard.next()
    wizard.grab().save(str(Path(folder) / "training-activate.png"))


def test_presets_set_the_augmentation_shares_and_a_share_set_by_hand_ticks_its_preset(qtbot):
    page = SettingsPage()
    qtbot.addWidget(page)
    assert all(not box.isChecked() for box in page.presets.values()) and page.measured.text() == ""
    config = page.config()
    assert (config.mask_share, config.greyscale, config.lowres_share) == (0.0, 0.0, 0.0)
    for label, field, share in PRESETS:
        page.presets[label].setChecked(True)
        assert getattr(page.config(), field) == share, label
    assert "masked" in page.measured.text()
    page.presets["People wear masks"].setChecked(False)
    assert page.config().mask_share == 0.0 and "low-res" in page.measured.text()
    page.presets["Grey or infrared camera"].setChecked(False)
    page.presets["Faces are small or far away"].setChecked(False)
    assert (page.config().greyscale, page.config().lowres_share) == (0.0, 0.0)
    page.shares["lowres_share"].setValue(0.3)  # by hand
    assert page.presets["Faces are small or far away"].isChecked() and page.config().lowres_share == 0.3
    page.shares["lowres_share"].setValue(0.0)
    assert not page.presets["Faces are small or far away"].isChecked()
    page.config().validated()


def test_roc_axis_has_labelled_decades_and_a_curve_at_auc_0_9999_is_inside_the_frame(qtbot):
    plot = LinePlot("ROC", "false accept rate (log)", "true accept rate", log_x=True, x_range=(1e-4, 1.0),
                    y_range=(0.0, 1.0), y_fit=True)
    qtbot.addWidget(plot)
    plot.resize(500, 300)
    assert [label for _, label in plot.x_ticks()] == ["1e-4", "1e-3", "1e-2", "1e-1", "1"]
    far = [0.0, 2e-4, 1e-3, 5e-3, 1e-2, 0.1, 1.0]
    tar = [0.97, 0.985, 0.987, 0.995, 1.0, 1.0, 1.0]  # the shipped model on ORL: AUC 0.9999
    plot.set_series([Series("before", far, tar)])
    _, (y0, y1) = plot.ranges()
    assert 0.9 <= y0 <= 0.985 and 1.0 < y1 < 1.01, (y0, y1)  # zoomed in, the TAR = 1 stretch below the frame
    y_ticks = plot.y_ticks()
    assert len(y_ticks) >= 3 and all(label and y0 <= value <= y1 for value, label in y_ticks)
    assert not plot.grab().isNull()
    plot.set_series([Series("chance", [1e-4, 1.0], [1e-4, 1.0])])  # a poor model: the full range
    assert plot.ranges()[1][0] == 0.0 and [label for _, label in plot.y_ticks()][0] == "0"


def test_the_loss_plot_ticks_are_readable_and_the_active_share_is_smoothed(qtbot):
    plot = LinePlot("Training", "step", "loss", legend_top=True)
    qtbot.addWidget(plot)
    plot.set_x_range((0, 80))
    plot.set_series([Series("loss", list(range(1, 81)), [1.0 / k for k in range(1, 81)])])
    assert [label for _, label in plot.x_ticks()] == ["0", "20", "40", "60", "80"]
    assert all(label for _, label in plot.y_ticks())
    jumpy = [float(k % 2) for k in range(40)]  # 0, 1, 0, 1: what the active share did
    calm = smoothed(jumpy)
    assert calm[0] == 0.0 and max(calm[20:]) - min(calm[20:]) < 0.2 and math.isclose(smoothed([0.5] * 5)[-1], 0.5)
    assert not plot.grab().isNull()


@needs_torch
def test_nothing_is_ticked_in_advance_unless_the_verdict_says_better(qtbot):
    import numpy as np

    from core.evaluation import Verdict, evaluate
    from core.training.trainer import TrainState
    from core.training.workflow import Outcome, Shifted

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    embeddings = np.repeat(centres, 3, axis=0) + 0.3 * rng.normal(size=(12, 8))
    labels = np.repeat(np.arange(4), 3)
    evaluation = evaluate(embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True), labels)
    model = type("Spec", (), {"id": "trained-1"})()

    def outcome(clean: str, masked: str | None):
        verdict = lambda word: Verdict(word, "tar_at_far_1e-2", 0.0, -0.01, 0.01, 0.95, 1000)  # noqa: E731
        shifted = Shifted("mask", evaluation, evaluation, verdict(masked)) if masked else None
        return Outcome(model, evaluation, evaluation, 0.36, TrainState(), Path("run"), {}, verdict(clean), shifted)

    wizard = TrainingWizard(service=None)
    qtbot.addWidget(wizard)
    for clean, masked, ticked, words in (("no measurable change", None, False, "No measurable change"),
                                         ("no measurable change", "no measurable change", False, "No measurable change"),
                                         ("no measurable change", "better", True, "Measurably better on masked faces"),
                                         ("worse", "better", False, "Measurably worse on clean faces"),
                                         ("better", "worse", False, "Measurably worse on masked faces"),
                                         ("better", None, True, "Measurably better")):
        wizard.train_page.outcome = outcome(clean, masked)
        wizard.evaluation_page.initializePage()
        wizard.activate_page.initializePage()
        assert wizard.activate_page.use_now.isChecked() is ticked, (clean, masked)
        assert words in wizard.activate_page.text.text() and words in wizard.evaluation_page.headline.text()
        assert wizard.evaluation_page.table.columnCount() == (4 if masked else 2)
        figures = wizard.activate_page.text.text()
        assert "On clean faces: TAR at FAR 1e-2" in figures and ("On masked faces:" in figures) == bool(masked)
        conditions = wizard.activate_page.conditions
        assert conditions.rowCount() == (2 if masked else 1)
        assert [conditions.item(conditions.rowCount() - 1, 3).text()] == [masked or clean]
        warned = "Not recommended: masked faces of people it did not train on got worse (" in figures
        assert warned == (masked == "worse")


def test_a_flat_roc_at_tar_1_sits_just_under_the_top_of_a_short_axis(qtbot):
    plot = LinePlot("ROC", "FAR", "TAR", log_x=True, x_range=(1e-4, 1.0), y_range=(0.0, 1.0), y_fit=True)
    qtbot.addWidget(plot)
    plot.set_series([Series("perfect", [0.0, 1e-4, 1.0], [1.0, 1.0, 1.0])])
    _, (y0, y1) = plot.ranges()
    assert 0.9 <= y0 < 1.0 < y1 < 1.01 and [label for _, label in plot.y_ticks()][-1] == "1"
