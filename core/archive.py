"""Export and import a gallery as one portable file: names, chips and vectors with the model id.

The file is a zip holding ``oneshot-export.json`` and one PNG per chip. Export writes a
temporary file beside the target and renames it only when complete, owner-readable only
(it holds biometric data). Import reads and checks everything before the gallery is touched,
then adds all people in one transaction, or nobody.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .errors import InputError
from .gallery import Gallery, decode_chip, encode_chip

FORMAT = "oneshot-gallery-export"
VERSION = 1
INDEX = "oneshot-export.json"


class ArchiveError(InputError):
    """An export file that cannot be imported, and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, eq=False)
class Archive:
    model_id: str
    people: list[tuple[str, str, list[tuple]]]  # (name, note, [(chip, embedding, quality, source)])

    @property
    def sample_count(self) -> int:
        return sum(len(samples) for _, _, samples in self.people)


def export_gallery(gallery: Gallery, model_id: str, path: Path) -> int:
    """Write every person with their chips and ``model_id`` vectors; return the sample count."""
    notes = {person.name: person.note for person in gallery.people()}
    people: dict[str, list] = {}
    samples = gallery.samples()
    sample_vectors = gallery.sample_vectors(model_id)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            for number, sample in enumerate(samples, 1):
                if sample.id not in sample_vectors:
                    raise InputError(f"{gallery.path}: sample {sample.id} of {sample.name!r} has no {model_id} "
                                     "vector; run `oneshot reembed` first")
                chip_name = f"chips/{number:06d}.png"
                archive.writestr(chip_name, encode_chip(sample.chip))
                people.setdefault(sample.name, []).append({
                    "chip": chip_name,
                    "embedding": [float(v) for v in sample_vectors[sample.id]],
                    "quality": sample.quality,
                    "source": sample.source,
                    "created": sample.created,
                })
            document = {
                "format": FORMAT,
                "version": VERSION,
                "model_id": model_id,
                "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "people": [{"name": name, "note": notes.get(name, ""), "samples": entries}
                           for name, entries in people.items()],
            }
            archive.writestr(INDEX, json.dumps(document, indent=1))
        os.replace(temporary, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        if temporary.exists():
            temporary.unlink()
    return len(samples)


def import_archive(gallery: Gallery, path: Path, model_id: str, embed=None) -> tuple[int, int]:
    """Add every person of an export, all or nothing; return (people, samples).

    An export of another model has vectors this gallery cannot match against: it is refused,
    unless ``embed`` (chip -> vector with the gallery's model) computes new ones from its chips.
    """
    archive = read_archive(path)
    people = archive.people
    if archive.model_id != model_id:
        if embed is None:
            raise ArchiveError(path, f"exported with model {archive.model_id!r}, but this gallery matches with "
                                     f"{model_id!r} (import with re-embedding to compute new vectors from its chips)")
        people = [(name, note, [(chip, embed(chip), quality, source) for chip, _, quality, source in samples])
                  for name, note, samples in people]
    return len(people), gallery.import_people(people, model_id)


def read_archive(path: Path) -> Archive:
    """Read and check an export completely; raise ``ArchiveError`` saying what is wrong."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise ArchiveError(path, f"damaged export file ({damaged} fails its checksum)")
            document = json.loads(archive.read(INDEX))
            if document.get("format") != FORMAT or document.get("version") != VERSION:
                raise ArchiveError(path, "not a OneShot gallery export (or from an unknown version)")
            people = [_read_person(path, archive, entry) for entry in document["people"]]
            return Archive(model_id=str(document["model_id"]), people=people)
    except FileNotFoundError:
        raise ArchiveError(path, "no such file") from None
    except IsADirectoryError:
        raise ArchiveError(path, "is a directory, not an export file") from None
    except zipfile.BadZipFile:
        raise ArchiveError(path, "not a OneShot gallery export (not a zip file, or truncated)") from None
    except KeyError as exc:
        raise ArchiveError(path, f"incomplete export (missing {exc})") from None
    except (ValueError, TypeError) as exc:
        raise ArchiveError(path, f"damaged export ({exc})") from None


def _read_person(path: Path, archive: zipfile.ZipFile, entry: dict) -> tuple[str, str, list[tuple]]:
    samples = []
    for sample in entry["samples"]:
        chip = decode_chip(archive.read(sample["chip"]))
        embedding = np.asarray(sample["embedding"], dtype=np.float32)
        if embedding.ndim != 1 or not np.all(np.isfinite(embedding)):
            raise ArchiveError(path, f"a vector of {entry['name']!r} is damaged")
        samples.append((chip, embedding, float(sample["quality"]), str(sample["source"])))
    return str(entry["name"]), str(entry.get("note", "")), samples
