"""Gallery > History: who enrolled, renamed, deleted, exported or imported whom, and when.

Read-only. The entries are read (and, in an encrypted gallery, opened) on a worker, so a long
history never freezes the window; a filter narrows them as one types. When the history's
chain is broken (an entry removed, altered or cut from the end behind SQLite's back) a red
banner says so above the table, and how.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from core.storage.history import HistoryEntry
from core.storage.names import printable

from .live_controller import describe
from .workers import run_in_background

COLUMNS = ("When (UTC)", "User", "Program", "Action", "Person", "Detail")


class HistoryDialog(QDialog):
    """The gallery's history, newest first."""

    def __init__(self, service, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Gallery history")
        self.resize(900, 480)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #b00020; color: white; padding: 6px; font-weight: bold;")
        self.banner.hide()
        self.status = QLabel("Reading the history…")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: a name, an action, a user…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._apply_filter)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.banner, self.filter, self.table, self.status, buttons):
            layout.addWidget(widget)
        self.entries: list[HistoryEntry] = []
        self.worker = run_in_background(service.history, self._show, self._failed, name="read history")

    def _show(self, loaded: tuple[list[HistoryEntry], int | None]) -> None:
        entries, broken = loaded
        self.entries = list(reversed(entries))
        if broken is not None:
            self.banner.setText(f"The history was altered: {broken.reason} (changed outside OneShot).")
            self.banner.show()
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            values = (entry.at.replace("T", " ").split("+")[0], entry.user, entry.program, entry.action,
                      entry.subject, entry.detail)
            for column, value in enumerate(values):
                item = QTableWidgetItem(printable(value))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, column, item)
        self._apply_filter(self.filter.text())

    def _failed(self, error: Exception) -> None:
        self.status.setText(f"The history cannot be read: {describe(error)}")

    def _apply_filter(self, text: str) -> None:
        needle = text.casefold().strip()
        shown = 0
        for row in range(self.table.rowCount()):
            matches = not needle or any(needle in self.table.item(row, column).text().casefold()
                                        for column in range(len(COLUMNS)))
            self.table.setRowHidden(row, not matches)
            shown += matches
        total = f"{len(self.entries)} {'entry' if len(self.entries) == 1 else 'entries'}"
        self.status.setText(f"{shown} of {total}" if needle else total)

    def visible_rows(self) -> list[list[str]]:
        """The rows shown now, as text (what a person reads; the tests read it too)."""
        return [[self.table.item(row, column).text() for column in range(len(COLUMNS))]
                for row in range(self.table.rowCount()) if not self.table.isRowHidden(row)]
