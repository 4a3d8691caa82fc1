"""The user's settings and the one place they are resolved, for the command line and the app.

Precedence, everywhere: command-line flags > environment variables > the settings file >
the models' own values. A value left unset (None) is not a default spelled here: tau falls
to the active embedder's calibrated tau and the detector thresholds to the detector's
manifest, so a model switch brings its own values unless the user chose one by hand.

The file is JSON in the per-user config folder (platformdirs). A missing file gives no
choices; a damaged one is set aside (renamed, never deleted) with a warning in the log.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .live.camera_session import MAX_CAMERAS
from .errors import InputError
from .paths import user_path

log = logging.getLogger(__name__)

PROVIDERS = ("auto", "cuda", "cpu")

# Environment variables, one per setting a script may want to pin without touching the file.
ENVIRONMENT = {
    "tau": "ONESHOT_TAU",
    "score_threshold": "ONESHOT_SCORE_THRESHOLD",
    "nms_threshold": "ONESHOT_NMS_THRESHOLD",
    "provider": "ONESHOT_PROVIDER",
    "gallery": "ONESHOT_GALLERY",
    "camera": "ONESHOT_CAMERA",
    "retention_days": "ONESHOT_RETENTION_DAYS",
    "liveness": "ONESHOT_LIVENESS",
    "live_detector": "ONESHOT_LIVE_DETECTOR",
}
SWITCH_WORDS = {"1": True, "on": True, "true": True, "yes": True, "0": False, "off": False, "false": False, "no": False}


def default_settings_path() -> Path:
    """``ONESHOT_SETTINGS`` if set, else ``settings.json`` in the user config folder."""
    return user_path("ONESHOT_SETTINGS", "config", "settings.json")


@dataclass(frozen=True)
class Settings:
    """What the user chose; None means "the model's own value" (see the module docstring)."""

    tau: float | None = None
    score_threshold: float | None = None
    nms_threshold: float | None = None
    camera: str = "0"  # a webcam index, or a video file / image folder used as a demo source
    more_cameras: tuple[str, ...] = ()  # shown beside ``camera``, in one window (up to MAX_CAMERAS in all)
    resolution: tuple[int, int] = (640, 480)
    provider: str = "auto"
    gallery: str = ""  # empty: $ONESHOT_GALLERY's or the default gallery location
    window: dict = field(default_factory=dict)  # geometry and state, base64, from the GUI
    retention_days: float | None = None  # forget people not seen for this many days; None: keep everyone
    liveness: bool = True  # live window and webcam enrolment: a photo or screen held up is "Photo?", never named
    live_detector: str | None = None  # the live view's detector (core.vision.pipeline.LIVE_DETECTORS); None: the default

    def validated(self) -> Settings:
        """Raise ValueError naming the first setting out of range."""
        if self.tau is not None and not (math.isfinite(self.tau) and 0.0 < self.tau < 4.0):
            raise ValueError("tau must lie between 0 and 4 (squared distance of unit-length vectors)")
        for name in ("score_threshold", "nms_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"{name.replace('_', ' ')} must lie between 0 and 1")
        from .vision.pipeline import LIVE_DETECTORS

        if self.live_detector is not None and self.live_detector not in LIVE_DETECTORS:
            raise ValueError(f"the live detector must be {' or '.join(LIVE_DETECTORS)}")
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be {', '.join(PROVIDERS[:-1])} or {PROVIDERS[-1]}")
        if len(self.more_cameras) > MAX_CAMERAS - 1 or not all(isinstance(c, str) and c for c in self.more_cameras):
            raise ValueError(f"at most {MAX_CAMERAS - 1} more cameras, each a camera number, file, folder or URL")
        if len(self.resolution) != 2 or min(self.resolution) <= 0:
            raise ValueError("resolution must be two positive numbers")
        if self.retention_days is not None and not (math.isfinite(self.retention_days) and self.retention_days > 0):
            raise ValueError("the retention period must be a positive number of days (or off)")
        return self

    def gallery_path(self) -> Path | str | None:
        """The chosen gallery: a file's Path, a shared gallery's URL as written (``postgresql://``),
        or None for the default location."""
        if not self.gallery:
            return None
        return self.gallery if "://" in self.gallery else Path(self.gallery)

    def effective_tau(self, calibrated: float) -> float:
        """The threshold in force: the hand-set tau, else the model's calibrated one."""
        return calibrated if self.tau is None else self.tau


def load_settings(path: Path | None = None) -> Settings:
    path = path or default_settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        known = {f.name for f in fields(Settings)}
        values = {key: value for key, value in raw.items() if key in known}
        for name in ("resolution", "more_cameras"):
            if name in values:
                if isinstance(values[name], str):
                    raise ValueError(f"{name} must be a list")
                values[name] = tuple(values[name])
        return replace(Settings(), **values).validated()
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, TypeError) as exc:
        aside = path.with_name(path.name + ".damaged")
        log.warning("%s: unreadable settings (%s); using defaults, the file is kept as %s", path, exc, aside)
        try:
            path.replace(aside)
        except OSError:
            pass
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (temporary file, then rename) so a crash never leaves half a file;
    owner-only, since a network camera's URL may hold its password."""
    path = path or default_settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(json.dumps(asdict(settings), indent=2))
    os.chmod(temporary, 0o600)
    temporary.replace(path)


def _from_environment(name: str, text: str):
    if name == "liveness":
        if text.strip().lower() not in SWITCH_WORDS:
            raise InputError(f"{ENVIRONMENT[name]}={text!r} is not on or off (1, 0, true, false, yes, no)")
        return SWITCH_WORDS[text.strip().lower()]
    if name in ("tau", "score_threshold", "nms_threshold", "retention_days"):
        try:
            return float(text)
        except ValueError:
            raise InputError(f"{ENVIRONMENT[name]}={text!r} is not a number") from None
    return text


def resolve_settings(flags: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None,
                     path: Path | None = None, saved: Settings | None = None) -> Settings:
    """The settings in force: ``flags`` (None values ignored) over the environment over the file.

    ``saved`` stands in for the file when the caller holds it already (the app, which edits
    it). A bad value from the flags or the environment is an ``InputError`` naming it (exit
    2); a bad file is set aside by ``load_settings``.
    """
    environ = os.environ if environ is None else environ
    values = {name: _from_environment(name, environ[variable])
              for name, variable in ENVIRONMENT.items() if environ.get(variable)}
    values.update({name: value for name, value in (flags or {}).items() if value is not None})
    if "gallery" in values:
        values["gallery"] = os.fspath(values["gallery"])
    try:
        return replace(saved or load_settings(path), **values).validated()
    except ValueError as error:
        raise InputError(str(error)) from None
