"""The user's settings, saved as JSON in the per-user config folder (platformdirs).

Plain data with no Qt, so the command line, the GUI and the tests share one definition.
A missing file gives the defaults; a damaged one is set aside (renamed, never deleted) and
the defaults are used, with a warning in the log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from .paths import user_path

log = logging.getLogger(__name__)


def default_settings_path() -> Path:
    """``ONESHOT_SETTINGS`` if set, else ``settings.json`` in the user config folder."""
    return user_path("ONESHOT_SETTINGS", "config", "settings.json")


@dataclass(frozen=True)
class Settings:
    tau: float = 0.36
    score_threshold: float = 0.6
    nms_threshold: float = 0.5
    camera: str = "0"  # a webcam index, or a video file / image folder used as a demo source
    resolution: tuple[int, int] = (640, 480)
    provider: str = "auto"
    gallery: str = ""  # empty: the default gallery location
    window: dict = field(default_factory=dict)  # geometry and state, base64, from the GUI

    def validated(self) -> "Settings":
        """Raise ValueError naming the first setting out of range."""
        if not 0.0 < self.tau < 4.0:
            raise ValueError("tau must lie between 0 and 4 (squared distance of unit-length vectors)")
        for name in ("score_threshold", "nms_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name.replace('_', ' ')} must lie between 0 and 1")
        if self.provider not in ("auto", "cuda", "cpu"):
            raise ValueError("provider must be auto, cuda or cpu")
        if len(self.resolution) != 2 or min(self.resolution) <= 0:
            raise ValueError("resolution must be two positive numbers")
        return self

    def gallery_path(self) -> Path | None:
        return Path(self.gallery) if self.gallery else None


def load_settings(path: Path | None = None) -> Settings:
    path = path or default_settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(Settings)}
        values = {key: value for key, value in raw.items() if key in known}
        if "resolution" in values:
            values["resolution"] = tuple(values["resolution"])
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
    """Write atomically (temporary file, then rename) so a crash never leaves half a file."""
    path = path or default_settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    temporary.replace(path)
