"""Where a gallery lives, as a person writes it: a file path, or a PostgreSQL URL for a shared one."""

from __future__ import annotations

from pathlib import Path

from .repository import Gallery
from .sqlite import default_gallery_path
from .postgres import PostgresGallery, is_postgres_location


def open_gallery_at(location: str | Path | None, **options) -> Gallery:
    """The gallery at ``location`` (None: the default file), local or shared; ``options`` as ``Gallery``'s."""
    if location is not None and is_postgres_location(location):
        return PostgresGallery(str(location), **options)
    return Gallery(location, **options)


def shown_location(location: str | Path | None) -> str:
    """The location as messages show it: a file's path, or a URL without its password."""
    from ..redact import redact

    return redact(str(location if location is not None else default_gallery_path()))
