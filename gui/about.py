"""The About dialog: what is installed, where the models come from, and their licences.

Built from ``core.models.info.collect_info()`` (the same facts as ``oneshot info``), so a bug
report can quote either. The licence texts are files, read in the background.
"""

from __future__ import annotations

import html
import logging

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from core.models.registry import shipped_models
from core.models.store import imported_embedders

from .workers import run_in_background

log = logging.getLogger(__name__)


def licence_texts() -> str:
    """Every shipped model's licence under a heading naming the model, then every imported model's
    under a heading saying its licence is the user's to answer for; a missing file says so."""
    parts = [_licence(spec, f"{spec.id}: {spec.licence}", "reinstall OneShot") for spec in shipped_models()]
    parts += [_licence(spec, f"{spec.id}: {spec.licence} (an imported model: its licence is your responsibility)",
                       "import it again") for spec in imported_embedders()]
    return "\n\n\n".join(parts)


def _licence(spec, heading: str, remedy: str) -> str:
    """One licence text under its heading; an unreadable file says so and how to mend it."""
    try:
        text = spec.licence_path.read_text(encoding="utf-8").strip()
    except OSError as error:
        text = f"(cannot read {spec.licence_path}: {error.strerror or error}; {remedy})"
    return f"{heading}\n{'=' * len(heading)}\n\n{text}"


def summary_html(info: dict) -> str:
    """Versions, the execution provider and each model with its source, sha256 and licence."""
    versions = info["versions"]
    runtime = next((f"{versions[name]} ({name})" for name in ("onnxruntime", "onnxruntime-gpu") if name in versions),
                   "not installed")
    chosen = info["providers"]["chosen"]
    provider = f"{chosen['device'] or 'none'} ({', '.join(chosen['providers']) or 'no provider'}): {chosen['reason']}"
    rows = [
        ("Python", versions.get("python", "?")),
        ("ONNX Runtime", runtime),
        ("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"),
        ("Execution provider", provider),
    ]
    table = "".join(f"<tr><td>{html.escape(label)}:&nbsp;</td><td>{html.escape(value)}</td></tr>"
                    for label, value in rows)
    models = "".join(
        f"<p><b>{html.escape(model['id'])}</b> ({html.escape(model['task'])}), from "
        f"{html.escape(model['source'])}, licence {html.escape(model['licence'])}"
        f"{'' if model['intact'] else ' <b>[MISSING OR DAMAGED]</b>'}<br>"
        f"sha256 <code>{html.escape(model['sha256'])}</code></p>"
        for model in info["models"]
    )
    version = html.escape(versions.get("oneshot-faceid", "(version unknown)"))
    return (f"<h2>OneShot {version}</h2><p>One-shot face recognition on the desktop.</p>"
            f"<table>{table}</table><h3>Models</h3>{models}")


class AboutDialog(QDialog):
    """``info`` is ``collect_info()``'s dict; collect it off the UI thread (it hashes the models)."""

    def __init__(self, info: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About OneShot")
        self.resize(640, 560)
        self.summary = QLabel(summary_html(info))
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.licences = QPlainTextEdit("Reading the licences…")
        self.licences.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Model licences:"))
        layout.addWidget(self.licences, 1)
        layout.addWidget(buttons)
        run_in_background(licence_texts, self.licences.setPlainText, self._licences_failed)

    def _licences_failed(self, error: Exception) -> None:
        log.warning("cannot read the model licences", exc_info=error)
        self.licences.setPlainText(f"The licences cannot be read: {error}")
