"""Where faces come from for the training wizard and the model import: a folder of people (one
sub-folder of photos per person, maybe tight crops) or the gallery's own samples."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton,
                               QRadioButton, QVBoxLayout, QWidget)


class FacesSource(QWidget):
    """The choice and its fields; ``changed`` on any edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder_choice = QRadioButton("Folder of people:")
        self.gallery_choice = QRadioButton("The gallery's own samples")
        self.folder_choice.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.folder_choice)
        group.addButton(self.gallery_choice)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("one sub-folder of photos per person")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.crops = QCheckBox("The photos are tight face crops (like ORL)")
        row = QHBoxLayout()
        row.addWidget(self.folder_choice)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.gallery_choice)
        layout.addWidget(self.crops)
        for signal in (self.folder.textChanged, self.crops.toggled, self.gallery_choice.toggled):
            signal.connect(self.changed)

    def folder_path(self) -> Path | None:
        """The chosen folder; None for the gallery's samples (or no folder typed yet: see ``is_complete``)."""
        text = self.folder.text().strip()
        return Path(text) if self.folder_choice.isChecked() and text else None

    def is_complete(self) -> bool:
        return self.gallery_choice.isChecked() or bool(self.folder.text().strip())

    def description(self) -> str:
        """"gallery" or the folder as typed: what a run's summary records."""
        return "gallery" if self.gallery_choice.isChecked() else self.folder.text().strip()

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder with one sub-folder per person")
        if chosen:
            self.folder.setText(chosen)
            self.folder_choice.setChecked(True)
