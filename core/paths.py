"""Where OneShot keeps per-user files, each overridable by an environment variable.

Tests, portable installs and scripts point a variable elsewhere; everyone else gets the
platform's usual per-user folders (platformdirs): data for the gallery and trained models,
cache for re-creatable chips, config for settings.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "OneShot"


def user_path(variable: str, kind: str, name: str) -> Path:
    """``$variable`` if set, else ``name`` inside the user ``kind`` folder (data, cache or config)."""
    configured = os.environ.get(variable)
    if configured:
        return Path(configured)
    import platformdirs

    folder = {"data": platformdirs.user_data_path, "cache": platformdirs.user_cache_path,
              "config": platformdirs.user_config_path}[kind]
    return folder(APP, appauthor=False) / name
