"""Putting an embedder into service: vectors for every stored chip, then the switch.

The gallery keeps each sample's chip, so a new embedder needs no new photos: its vectors are
computed from the chips and stored beside the old model's, in one transaction. Only then is
the model recorded as active, so an interrupted activation leaves the previous model running
with its vectors intact, and switching back later costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from ..vision.embed import FaceEmbedder
from ..errors import ModelError
from ..storage.repository import Gallery
from ..vision.masks import copies_model_id, copy_vectors
from .store import get_embedder, set_active
from .registry import ModelSpec, verify_file
from .runtime import create_session

BATCH = 32


def embedding_dimensions(spec: ModelSpec) -> int:
    """How many numbers the model's vectors have, as its manifest states ("(batch, 128) ..."):
    what an import is checked against, whatever the gallery holds so far."""
    stated = {int(match) for text in spec.outputs.values() if isinstance(text, str)
              for match in re.findall(r"\(batch, (\d+)\)", text)}
    if len(stated) != 1:
        raise ModelError(f"the manifest of model {spec.id!r} does not state one vector length in its outputs "
                         f"({spec.outputs!r})")
    return stated.pop()


def reembed_gallery(gallery: Gallery, embedder: FaceEmbedder, only_missing: bool = True,
                    progress: Callable[[int, int], None] | None = None, skipped: list[str] | None = None) -> int:
    """Embed stored chips (samples and negatives) with ``embedder`` and store the vectors, in
    one transaction; return how many chips were embedded. Re-embedding everything
    (``only_missing=False``) replaces the model's vectors and registration whole, so it also
    repairs vectors that disagree with the model (a wrong length, from an older import) or fail
    to open. With a ``skipped`` list, a chip whose row is damaged is left out (its vector goes
    too) and described there, one line each, so one damaged row cannot block the repair."""
    model_id = embedder.spec.id
    damaged_samples, damaged_negatives = ([], []) if skipped is not None else (None, None)
    samples = gallery.samples(damaged_samples)
    negatives = gallery.negative_samples(damaged_negatives)
    if skipped is not None:
        skipped += [f"{what} {entry.id}: {entry.reason}; `oneshot {command} {entry.id}` removes it"
                    for what, command, entries in (("sample", "remove-sample", damaged_samples),
                                                   ("negative", "remove-negative", damaged_negatives))
                    for entry in entries]
    if only_missing:
        have = gallery.sample_vectors(model_id)
        samples = [s for s in samples if s.id not in have]
        have = gallery.negative_sample_vectors(model_id)
        negatives = [s for s in negatives if s.id not in have]
    total = len(samples) + len(negatives)
    done = 0
    embedded: list[dict] = [{}, {}]
    for vectors, chips in zip(embedded, (samples, negatives)):
        for start in range(0, len(chips), BATCH):
            batch = chips[start:start + BATCH]
            vectors.update(zip((s.id for s in batch), embedder.embed(np.stack([s.chip for s in batch]))))
            done += len(batch)
            if progress:
                progress(done, total)
    if done or not only_missing:
        gallery.store_embeddings(model_id, embedded[0], embedded[1], complete=not only_missing)
        clear = [s for s in samples if not s.masked]  # and each clear sample's masked copies (core.vision.masks)
        copies = {}
        for start in range(0, len(clear), BATCH):
            batch = clear[start:start + BATCH]
            copies.update(zip((s.id for s in batch), copy_vectors(embedder.embed, np.stack([s.chip for s in batch]))))
        if copies or not only_missing:
            gallery.store_embeddings(copies_model_id(model_id), copies, complete=not only_missing)
    return done


def open_embedder(spec: ModelSpec, provider: str = "auto") -> FaceEmbedder:
    """An inference session on the model's file (not checked against its manifest: callers do)."""
    session, _ = create_session(spec.path, provider)
    return FaceEmbedder(session, spec)


def activate_model(model_id: str, gallery: Gallery, provider: str = "auto",
                   progress: Callable[[int, int], None] | None = None) -> tuple[FaceEmbedder, int]:
    """Verify the model, embed the gallery's chips it lacks, then make it the active embedder.

    Returns the open embedder (the app runs on it from now on) and how many chips it embedded.
    """
    spec = get_embedder(model_id)
    verify_file(spec)
    embedder = open_embedder(spec, provider)
    embedded = reembed_gallery(gallery, embedder, progress=progress)
    set_active(spec.id)
    if not gallery.read_only:
        gallery.record("model switch", "", f"to {spec.id} ({embedded} chips embedded)")
    return embedder, embedded
