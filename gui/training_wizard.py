"""The training wizard: data -> settings -> training -> evaluation -> activation.

Reading faces and training run on workers (``gui.workers``); the pages only show what those
report, so the window stays responsive and Cancel is honoured within one batch, in any phase up
to registering the model: a cancelled run registers and activates nothing, and keeps its
checkpoint, so starting again with the same data and settings resumes it.
Nothing changes in the running app until the last page's "Use this model now" is accepted, and
that box is ticked in advance only when the run's verdict says the new model is measurably
better where it was trained to help and no condition (clean, masked, the trained shift) got
worse (``Outcome.recommended``).
"""

from __future__ import annotations


from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from core.errors import OneShotError
from core.evaluation import METRIC_LABELS
from core.training.config import LOSSES, MINING, TrainConfig, shift_of
from core.training.data import split_by_identity

from .faces_source import FacesSource
from .live_controller import describe
from .plot import LinePlot, Series, smoothed
from .workers import Worker

HELP = {
    "margin": "Alpha: how much farther a different person must be than the same person before a "
              "triplet stops teaching anything. Larger pushes people further apart but is harder to meet.",
    "people": "P: people in each batch. More people give each face more chances to meet a look-alike.",
    "images": "K: photos of each person in a batch (at least 2). P x K photos go through the network "
              "at once; lower them if training runs out of memory.",
    "mining": "Which triplets to learn from. Semi-hard (FaceNet): negatives just inside the margin, "
              "stable. Batch-hard: only the hardest pair per face, fast but touchy. Batch-all: every "
              "triplet that still breaks the margin.",
    "layers": "How many of the network's last layers learn; the rest stay as shipped. Few layers "
              "overfit less on small data; 0 trains everything (slow, needs many people).",
    "greyscale": "Share of training photos turned grey: raise it to 0.5 or more for a grey or infrared camera.",
    "mask": "Share of training photos with a mask painted over nose and mouth (no masked photos needed).",
    "lowres": "Share of training photos shrunk to a face of 24-64 pixels and blown up again, like a far camera.",
    "presets": "Tick what is true where the model will be used: each sets the matching share below to "
               "0.5, and the held-out people are then also measured that way.",
}
# (label, the TrainConfig field it sets, the share it sets): the wizard's plain-language presets
PRESETS = (("People wear masks", "mask_share", 0.5),
           ("Grey or infrared camera", "greyscale", 0.5),
           ("Faces are small or far away", "lowres_share", 0.5))
SHIFT_WORDS = {"mask": "masked", "lowres": "low-res", "grey": "grey"}
# the condition tau that applies to faces seen under each evaluated condition (grey has none)
CONDITION_TAUS = {"clean": "clear", "mask": "masked", "lowres": "small"}
CONDITION_COLUMNS = ("Faces", "TAR at FAR 1e-2 before", "After", "Verdict", "Tau before", "Tau after")


def condition_words(name: str) -> str:
    return "clean faces" if name == "clean" else f"{SHIFT_WORDS.get(name, name)} faces"


def _note(text: str) -> QLabel:
    """Help text in the palette's own text colour: a paler grey fell below a readable contrast."""
    note = QLabel(text)
    note.setWordWrap(True)
    return note


def _explained(form: QFormLayout, label: str, widget: QWidget, help_text: str) -> None:
    form.addRow(label, widget)
    form.addRow(_note(help_text))
    widget.setToolTip(help_text)


class DataPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Training data")
        self.setSubTitle("A folder with one sub-folder of photos per person, or the people in your gallery. "
                         "A share of the people is held out to measure the model before and after.")
        self.source = FacesSource()
        self.holdout = QDoubleSpinBox()
        self.holdout.setRange(0.1, 0.5)
        self.holdout.setSingleStep(0.05)
        self.holdout.setValue(0.25)
        self.read_button = QPushButton("Read faces")
        self.read_button.clicked.connect(self.read)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Person", "Usable photos"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.warnings = QPlainTextEdit()
        self.warnings.setReadOnly(True)
        self.warnings.setMaximumHeight(90)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        held = QHBoxLayout()
        held.addWidget(QLabel("Share of people held out for evaluation:"))
        held.addWidget(self.holdout)
        held.addStretch(1)
        held.addWidget(self.read_button)
        layout.addLayout(held)
        layout.addWidget(self.progress)
        layout.addWidget(self.table, 1)
        layout.addWidget(QLabel("Skipped:"))
        layout.addWidget(self.warnings)
        layout.addWidget(self.status)
        self.data = None
        self.job: Worker | None = None
        for signal in (self.source.changed, self.holdout.valueChanged):
            signal.connect(self._forget)

    def _forget(self, *_) -> None:
        self.data = None
        self.completeChanged.emit()

    def read(self) -> None:
        """Detect and align every photo on a worker thread, then preview the counts."""
        service = self.wizard().service
        complete, folder, crops = self.source.is_complete(), self.source.folder_path(), self.source.crops.isChecked()
        job = Worker("read training data")

        def work():
            if not complete:
                raise OneShotError("choose a folder first")
            return service.training_data(folder, crops,
                                         progress=lambda done, total, _path: job.report((done, total))).trainable()

        self.read_button.setEnabled(False)
        self.progress.setVisible(True)
        self.status.setText("Reading faces…")
        job.progress.connect(lambda value: (self.progress.setMaximum(value[1]), self.progress.setValue(value[0])))
        job.done.connect(self._show)
        job.failed.connect(self._failed)
        self.job = job.start(work)

    def _failed(self, error: Exception) -> None:
        message = describe(error)
        self.data = None
        self.completeChanged.emit()  # whoever waits for the outcome learns it either way
        self.read_button.setEnabled(True)
        self.progress.setVisible(False)
        self.status.setText(f"<b>Cannot train on this:</b> {message}")

    def _show(self, data) -> None:
        self.read_button.setEnabled(True)
        self.progress.setVisible(False)
        counts = data.counts()
        self.table.setRowCount(len(counts))
        for row, (name, count) in enumerate(counts.items()):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem(str(count)))
        self.warnings.setPlainText("\n".join(f"{path}: {reason}" for path, reason in data.skipped) or "nothing")
        try:
            train, held_out = split_by_identity(data, self.holdout.value())
        except OneShotError as error:
            self._failed(error)
            return
        self.data = (data, train, held_out)
        self.status.setText(f"{len(data)} photos of {len(data.names)} people: {len(train.names)} to train on, "
                            f"{len(held_out.names)} held out ({', '.join(held_out.names)}).")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.data is not None

    def summary(self) -> dict:
        data = self.data[0]
        return {"source": self.source.description(), "crops": self.source.crops.isChecked(), **data.summary()}


class SettingsPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Training settings")
        self.setSubTitle("The defaults suit a few dozen people; each setting says what it changes.")
        defaults = TrainConfig()
        self.margin = self._spin(0.05, 1.0, 0.05, defaults.margin, 2)
        self.people = self._int_spin(2, 64, defaults.people_per_batch)
        self.images = self._int_spin(2, 16, defaults.images_per_person)
        self.mining = QComboBox()
        self.mining.addItems(MINING)
        self.mining.setCurrentText(defaults.mining)
        self.loss = QComboBox()
        self.loss.addItems(LOSSES)
        self.loss.setCurrentText(defaults.loss)
        self.loss.setToolTip("Triplet: the distance itself is trained. Binary: a pair classifier on |f(a) - f(b)|.")
        self.layers = self._int_spin(0, 30, defaults.train_layers)
        self.epochs = self._int_spin(1, 500, defaults.epochs)
        self.shares = {field: self._spin(0.0, 1.0, 0.1, getattr(defaults, field), 2) for _, field, _ in PRESETS}
        self.greyscale = self.shares["greyscale"]
        self.presets: dict[str, QCheckBox] = {}
        group = QGroupBox("Where the model will be used")
        presets = QVBoxLayout(group)
        boxes = QHBoxLayout()
        for label, field, share in PRESETS:
            box = QCheckBox(label)
            box.toggled.connect(lambda on, field=field, share=share: self._preset(field, share, on))
            self.shares[field].valueChanged.connect(lambda value, box=box: self._sync(box, value))
            self.presets[label] = box
            boxes.addWidget(box)
        presets.addLayout(boxes)
        presets.addWidget(_note(HELP["presets"]))
        self.measured = QLabel("")
        self.measured.setWordWrap(True)
        presets.addWidget(self.measured)
        for spin in self.shares.values():
            spin.valueChanged.connect(self._show_measured)
        details = QWidget()
        form = QFormLayout(details)
        scroll = QScrollArea()  # the detailed settings scroll; the presets stay in view
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(details)
        layout = QVBoxLayout(self)
        layout.addWidget(group)
        layout.addWidget(scroll, 1)
        _explained(form, "Margin alpha:", self.margin, HELP["margin"])
        _explained(form, "People per batch (P):", self.people, HELP["people"])
        _explained(form, "Photos per person (K):", self.images, HELP["images"])
        _explained(form, "Triplet mining:", self.mining, HELP["mining"])
        form.addRow("Loss:", self.loss)
        _explained(form, "Layers to train:", self.layers, HELP["layers"])
        form.addRow("Epochs (at most; stops early when the monitor people stop improving):", self.epochs)
        _explained(form, "Grey photos:", self.greyscale, HELP["greyscale"])
        _explained(form, "Masked photos:", self.shares["mask_share"], HELP["mask"])
        _explained(form, "Low-resolution photos:", self.shares["lowres_share"], HELP["lowres"])

    def _show_measured(self, *_) -> None:
        kind = shift_of(self.config())
        self.measured.setText(f"The held-out people will be measured clean and {SHIFT_WORDS[kind]} (one shift is "
                              "measured: masks before low resolution before grey)." if kind else "")

    def _preset(self, field: str, share: float, on: bool) -> None:
        spin = self.shares[field]
        if on and spin.value() == 0:
            spin.setValue(share)
        elif not on:
            spin.setValue(0.0)

    @staticmethod
    def _sync(box: QCheckBox, value: float) -> None:
        """A share set by hand ticks (or clears) its preset, so the two never disagree."""
        if box.isChecked() != (value > 0):
            box.blockSignals(True)
            box.setChecked(value > 0)
            box.blockSignals(False)

    @staticmethod
    def _spin(low, high, step, value, decimals) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setDecimals(decimals)
        spin.setValue(value)
        return spin

    @staticmethod
    def _int_spin(low, high, value) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    def config(self) -> TrainConfig:
        return TrainConfig(loss=self.loss.currentText(), mining=self.mining.currentText(), margin=self.margin.value(),
                           people_per_batch=self.people.value(), images_per_person=self.images.value(),
                           epochs=self.epochs.value(), train_layers=self.layers.value(),
                           **{field: spin.value() for field, spin in self.shares.items()})


class TrainPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Training")
        self.setSubTitle("Cancel keeps a checkpoint: start again with the same data and settings to resume.")
        self.phase = QLabel("")
        self.phase.setWordWrap(True)
        self.bar = QProgressBar()
        self.eta = QLabel("")
        self.loss_plot = LinePlot("Training", "step", "loss / active share", y_range=None, legend_top=True)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.phase)
        layout.addWidget(self.bar)
        row = QHBoxLayout()
        row.addWidget(self.eta, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        layout.addWidget(self.loss_plot, 1)
        self.outcome = None
        self.job: Worker | None = None
        self.steps: list[tuple[int, float, float]] = []  # (global step, loss, active share), across resumes
        self._steps_of = None  # the (settings, data) those steps were trained with

    def initializePage(self) -> None:
        self.outcome = None
        data_page, settings_page = self.wizard().data_page, self.wizard().settings_page
        _, train, held_out = data_page.data
        config, summary = settings_page.config(), data_page.summary()
        if self._steps_of != (config, id(train)):  # another run: its curve starts afresh
            self.steps, self._steps_of = [], (config, id(train))
            self.loss_plot.set_series([])
        name = f"fine-tuned on {summary['source']}"

        job = Worker("training")

        def work():
            from core.training.workflow import Callbacks, fine_tune

            return fine_tune(train, held_out, config, name, summary, callbacks=Callbacks(
                phase=lambda text: job.report(("phase", text)), step=lambda r: job.report(("step", r)),
                epoch=lambda r: job.report(("epoch", r)), should_stop=job.cancelled))

        self.cancel_button.setEnabled(True)
        job.progress.connect(self._progress)
        job.done.connect(self._done)
        job.failed.connect(self._failed)
        self.job = job.start(work)

    def cancel(self) -> None:
        if self.job is not None and self.job.is_running():
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.phase.setText("Cancelling: stopping after the current batch…")

    def _progress(self, item) -> None:
        kind, value = item
        if kind == "phase":
            self.phase.setText(value)
        elif kind == "step":
            self.bar.setMaximum(value.total_steps)
            self.bar.setValue(value.step)
            minutes, seconds = divmod(int(value.eta_seconds), 60)
            self.eta.setText(f"epoch {value.epoch}, loss {value.loss:.4f}, active triplets {value.active_share:.0%}, "
                             f"{value.images_per_second:.0f} photos/s, about {minutes}:{seconds:02d} left")
            self.add_step(value)

    def add_step(self, report) -> None:
        """Extend the curve. A resumed run reports global steps, so its points continue the
        cancelled run's; any kept point at or past this step (a run started over) is dropped."""
        while self.steps and self.steps[-1][0] >= report.step:
            self.steps.pop()
        self.steps.append((report.step, report.loss, report.active_share))
        steps = [s[0] for s in self.steps]
        shares = [s[2] for s in self.steps]
        self.loss_plot.set_x_range((0, max(report.total_steps, steps[-1])))
        self.loss_plot.set_series([
            Series("loss", steps, [s[1] for s in self.steps], colour="#1f77b4"),
            Series("", steps, shares, colour="#2ca02c", faint=True),
            Series("active share (smoothed)", steps, smoothed(shares), colour="#2ca02c"),
        ])

    def _done(self, outcome) -> None:
        self.outcome = outcome
        self.cancel_button.setEnabled(False)
        if outcome.model is None:
            kept = (f" The checkpoint in {outcome.run_dir} is kept: go back and press Next with the same data and "
                    "settings to resume." if outcome.details["checkpoint_kept"] else "")
            self.phase.setText(f"<b>Training was cancelled.</b> Nothing was changed: no model was saved, and "
                               f"{outcome.details['parent']} stays in service.{kept}")
        else:
            self.phase.setText(f"Done ({outcome.state.stop_reason}); best epoch {outcome.state.best_epoch}. "
                               f"Saved as {outcome.model.id}.")
        self.completeChanged.emit()

    def _failed(self, error: Exception) -> None:
        self.cancel_button.setEnabled(False)
        self.phase.setText(f"<b>Training stopped:</b> {describe(error)}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.outcome is not None and self.outcome.model is not None

    def validatePage(self) -> bool:
        # the outcome arrives (``done``) a moment before the thread has ended: Next must work then too
        return self.outcome is not None or self.job is None or not self.job.is_running()


def judgement(outcome) -> str:
    """One honest sentence on the run: "better" only when its verdicts say so (``Outcome.recommended``)."""
    shifted = outcome.shifted if outcome.shifted is not None and outcome.shifted.verdict is not None else None
    where = f"on {SHIFT_WORDS.get(shifted.kind, shifted.kind)} faces" if shifted else "on the held-out faces"
    if outcome.recommended:
        return (f"Measurably better {where}" + (", and clean faces are not measurably worse." if shifted else "."))
    if outcome.worse:
        worse = " and ".join(condition_words(name) for name in outcome.worse)
        return f"Measurably worse on {worse}: keeping the current model is recommended."
    return ("No measurable change: the difference is within what resampling the held-out pairs gives. "
            "Keeping the current model is recommended.")


def key_figures(outcome) -> str:
    """TAR at FAR 1e-2 and one-shot rank-1, before → after, clean and under the shift."""
    rows = [("clean faces", outcome.before, outcome.after)]
    if outcome.shifted is not None and outcome.shifted.after is not None:
        rows.append((f"{SHIFT_WORDS.get(outcome.shifted.kind, outcome.shifted.kind)} faces",
                     outcome.shifted.before, outcome.shifted.after))
    return "<br>".join(
        f"On {where}: TAR at FAR 1e-2 {before.metrics['tar_at_far_1e-2']:.1%} → {after.metrics['tar_at_far_1e-2']:.1%}, "
        f"one-shot rank-1 {before.metrics['rank1']:.1%} → {after.metrics['rank1']:.1%}"
        for where, before, after in rows)


def condition_rows(outcome) -> list[tuple[str, str, str, str, str, str]]:
    """One row per evaluated condition (clean, masked, the trained shift): TAR at FAR 1e-2 before and
    after, the verdict word, and the tau that faces in that condition are named below, before and after."""
    taus = outcome.condition_taus or {}
    views = [("clean", outcome.before, outcome.after, outcome.verdict)]
    views += [(s.kind, s.before, s.after, s.verdict)
              for s in {s.kind: s for s in (outcome.masked, outcome.shifted) if s is not None}.values()]

    def tau(side: str, name: str) -> str:
        value = taus.get(side, {}).get(CONDITION_TAUS.get(name))
        return "–" if value is None else f"{value:.3f}"

    return [(condition_words(name).capitalize(), f"{before.metrics['tar_at_far_1e-2']:.1%}",
             f"{after.metrics['tar_at_far_1e-2']:.1%}" if after else "–", verdict.word if verdict else "–",
             tau("before", name), tau("after", name)) for name, before, after, verdict in views]


def other_taus(outcome) -> str:
    """The taus of the conditions the table has no row for (dark, turned, masked against masked)."""
    taus = outcome.condition_taus
    if not taus:
        return ""
    shown = set(CONDITION_TAUS.values())
    pairs = ", ".join(f"{name.replace('_', ' against ')} {value:.3f} → {taus['after'][name]:.3f}"
                      for name, value in taus["before"].items() if name not in shown and name in taus["after"])
    how = taus.get("note") or f"calibrated on {taus['probes']} held-out images of {taus['people']} people"
    return f"Tau of other conditions, before → after: {pairs} ({how})."


class EvaluationPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Before and after")
        self.setSubTitle("Measured on the held-out people, whom training never saw; under the shift the model was "
                         "trained for too, when there is one.")
        self.table = QTableWidget(len(METRIC_LABELS), 2)
        self.table.setHorizontalHeaderLabels(["Before", "After"])
        self.table.setVerticalHeaderLabels([label for _, label in METRIC_LABELS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        rows = self.table.verticalHeader().defaultSectionSize() * len(METRIC_LABELS)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + rows + 4)  # no scrolling
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.roc = LinePlot("Verification ROC", "false accept rate (log)", "true accept rate", log_x=True,
                            x_range=(1e-4, 1.0), y_range=(0.0, 1.0), y_fit=True)
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.headline)
        layout.addWidget(self.verdict)
        layout.addWidget(self.roc, 1)

    def initializePage(self) -> None:
        outcome = self.wizard().train_page.outcome
        shifted = outcome.shifted if outcome.shifted is not None and outcome.shifted.after is not None else None
        columns = [("Before", outcome.before), ("After", outcome.after)]
        word = SHIFT_WORDS.get(shifted.kind, shifted.kind) if shifted else ""
        if shifted:
            columns += [(f"Before, {word}", shifted.before), (f"After, {word}", shifted.after)]
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels([title for title, _ in columns])
        for row, (key, _) in enumerate(METRIC_LABELS):
            for column, (_, evaluation) in enumerate(columns):
                self.table.setItem(row, column, QTableWidgetItem(f"{evaluation.metrics[key]:.4f}"))
        self.headline.setText(f"<b>{judgement(outcome)}</b>")
        lines = []
        if outcome.verdict is not None:
            lines.append(f"Clean faces: {outcome.verdict.sentence()}.")
        if shifted is not None and shifted.verdict is not None:
            lines.append(f"{word.capitalize()} faces: {shifted.verdict.sentence()}.")
        lines.append(f"The new model's threshold tau is {outcome.tau:.3f} (calibrated on the held-out pairs).")
        self.verdict.setText("<br>".join(lines))
        series = [Series("before", list(outcome.before.roc.far), list(outcome.before.roc.tar), colour="#1f77b4"),
                  Series("after", list(outcome.after.roc.far), list(outcome.after.roc.tar), colour="#d62728")]
        if shifted:
            series += [Series(f"before, {word}", list(shifted.before.roc.far), list(shifted.before.roc.tar),
                              colour="#1f77b4", dashed=True),
                       Series(f"after, {word}", list(shifted.after.roc.far), list(shifted.after.roc.tar),
                              colour="#d62728", dashed=True)]
        self.roc.set_series(series)


class ActivatePage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Put it into service")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.use_now = QCheckBox("Use this model now (the gallery's photos are embedded again; the current model stays "
                                 "available to switch back to)")
        self.conditions = QTableWidget(0, len(CONDITION_COLUMNS))
        self.conditions.setHorizontalHeaderLabels(list(CONDITION_COLUMNS))
        self.conditions.verticalHeader().setVisible(False)
        self.conditions.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.conditions.horizontalHeader().setStretchLastSection(True)
        self.conditions.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.conditions.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.conditions.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.taus = QLabel("")
        self.taus.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.conditions)
        layout.addWidget(self.taus)
        layout.addWidget(self.use_now)
        layout.addStretch(1)

    def initializePage(self) -> None:
        outcome = self.wizard().train_page.outcome
        self.use_now.setChecked(outcome.recommended)  # ticked in advance only when measurably better, nothing worse
        warning = outcome.warning()
        self.text.setText(f"The new model {outcome.model.id} is saved. {judgement(outcome)}"
                          + (f" <b>{warning[0].upper()}{warning[1:]}.</b>" if warning else "")
                          + ("" if outcome.recommended else " Tick the box to switch to it anyway.")
                          + f"<br><br>{key_figures(outcome)}.")
        rows = condition_rows(outcome)
        self.conditions.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                self.conditions.setItem(row, column, QTableWidgetItem(text))
        self.conditions.setFixedHeight(self.conditions.horizontalHeader().sizeHint().height()
                                       + self.conditions.verticalHeader().defaultSectionSize() * len(rows) + 4)
        self.taus.setText(other_taus(outcome))


class TrainingWizard(QWizard):
    """Emits ``activateRequested(model_id)`` when the user chooses to use the new model."""

    activateRequested = Signal(str)

    def __init__(self, service, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train the face model")
        self.service = service
        self.data_page = DataPage()
        self.settings_page = SettingsPage()
        self.train_page = TrainPage()
        self.evaluation_page = EvaluationPage()
        self.activate_page = ActivatePage()
        for page in (self.data_page, self.settings_page, self.train_page, self.evaluation_page, self.activate_page):
            self.addPage(page)
        self.resize(760, 640)

    def accept(self) -> None:
        outcome = self.train_page.outcome
        if outcome is not None and outcome.model is not None and self.activate_page.use_now.isChecked():
            self.activateRequested.emit(outcome.model.id)
        super().accept()

    def is_training(self) -> bool:
        return self.train_page.job is not None and self.train_page.job.is_running()

    def stop_training(self) -> None:
        """Cancel reading and training and wait for them: the checkpoint is written on the way out."""
        for job in (self.train_page.job, self.data_page.job):
            if job is not None and job.is_running():
                job.cancel()
                job.wait(None)  # training ends within one batch; cutting it short would lose the checkpoint

    def reject(self) -> None:
        """Closing mid-training cancels it (the checkpoint is written) before the window goes."""
        self.stop_training()
        super().reject()
