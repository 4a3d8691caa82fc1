"""Who's this? Faces that stayed unknown in the live loop, grouped per person, in memory only.

Nothing here is written anywhere: an unknown face is biometric data of someone who has not
agreed to be enrolled, so the gallery's privacy rules hold until the user names the group
(``RecognitionService.name_unknown_group`` enrols its best samples through the usual gates).

Clustering is incremental, one embedding at a time (the live loop feeds one per re-embedding
of a track that stayed unknown, not one per frame): the new face joins the group it is
nearest to, when that distance is below tau, else it starts a new group. A group's distance
is the smaller of the distances to its centroid (the running mean of every face it took in)
and to each of its kept samples, all squared L2 like the matcher's. Everything is bounded:
at most ``max_groups`` groups (the least recently seen one makes room) and at most
``samples_per_group`` samples each (the best by quality, then detector score), so the memory
stays flat however long the loop runs.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from dataclasses import dataclass

import numpy as np

from ..vision.detect import Face
from ..vision.quality import QualityReport

log = logging.getLogger(__name__)

MAX_GROUPS = 20  # people offered in "Who's this?"; the least recently seen gives way
SAMPLES_PER_GROUP = 5  # best faces kept per group (a 150x150 chip is 66 KB: 6.6 MB at most in all)


@dataclass(frozen=True, eq=False)
class UnknownFace:
    """One sighting of a face nobody is enrolled as: what enrolling it would need."""

    face: Face  # in the frame's coordinates
    chip: np.ndarray  # the aligned chip the embedding was computed from
    embedding: np.ndarray
    quality: QualityReport
    frame: int  # the frame's number in its source
    seen: float  # wall-clock time (``time.time()``)

    @property
    def rank(self) -> tuple[bool, float, float]:
        """Higher is better: passes the enrolment gate, then its quality score, then Pc."""
        return self.quality.ok, self.quality.score, self.face.score


@dataclass(frozen=True, eq=False)
class UnknownGroup:
    """A snapshot of one group: an unknown person seen ``count`` times."""

    group_id: int
    count: int  # faces taken in (one per re-embedding of an unknown track)
    samples: tuple[UnknownFace, ...]  # best first
    centroid: np.ndarray
    first_frame: int
    last_frame: int
    first_seen: float
    last_seen: float

    @property
    def best(self) -> UnknownFace:
        return self.samples[0]


class _Group:
    def __init__(self, group_id: int, sighting: UnknownFace, tick: int) -> None:
        self.group_id = group_id
        self.count = 0
        self.total = np.zeros_like(sighting.embedding, dtype=np.float64)
        self.samples: list[UnknownFace] = []
        self.first_frame, self.first_seen = sighting.frame, sighting.seen
        self.last_frame, self.last_seen, self.tick = sighting.frame, sighting.seen, tick

    @property
    def embedding_size(self) -> int:
        return self.total.size

    @property
    def centroid(self) -> np.ndarray:
        return (self.total / max(self.count, 1)).astype(np.float32)

    def distance(self, embedding: np.ndarray) -> float:
        vectors = np.stack([self.centroid] + [sample.embedding for sample in self.samples])
        return float(np.min(np.sum((vectors - embedding) ** 2, axis=1)))

    def take(self, sighting: UnknownFace, keep: int, tick: int) -> None:
        self.count += 1
        self.total += sighting.embedding
        self.last_frame, self.last_seen, self.tick = sighting.frame, sighting.seen, tick
        if len(self.samples) < keep or sighting.rank > self.samples[-1].rank:
            self.samples.append(sighting)
            self.samples.sort(key=lambda sample: sample.rank, reverse=True)  # stable: the earlier wins a tie
            del self.samples[keep:]

    def snapshot(self) -> UnknownGroup:
        return UnknownGroup(self.group_id, self.count, tuple(self.samples), self.centroid, self.first_frame,
                            self.last_frame, self.first_seen, self.last_seen)


class UnknownFaces:
    """Unknown faces grouped per person, bounded; safe to use from several threads.

    ``add`` one sighting at a time; ``groups`` is a snapshot (by id, oldest first);
    ``revision`` changes with every change, so a view can tell whether to redraw.
    """

    def __init__(self, tau: float, max_groups: int = MAX_GROUPS, samples_per_group: int = SAMPLES_PER_GROUP) -> None:
        if max_groups < 1:
            raise ValueError(f"max_groups must be 1 or more, got {max_groups}")
        if samples_per_group < 1:
            raise ValueError(f"samples_per_group must be 1 or more, got {samples_per_group}")
        self.tau = tau
        self.max_groups = max_groups
        self.samples_per_group = samples_per_group
        self.model_id: str | None = None  # whose embeddings these are: another model's cannot be compared
        self._groups: dict[int, _Group] = {}
        self._ids = itertools.count(1)
        self._ticks = itertools.count()
        self._lock = threading.Lock()
        self.revision = 0

    @property
    def tau(self) -> float:
        return self._tau

    @tau.setter
    def tau(self, value: float) -> None:
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"tau must be a finite number of at least 0, got {value}")
        self._tau = float(value)

    def __len__(self) -> int:
        return len(self._groups)

    def add(self, sighting: UnknownFace) -> int:
        """Put ``sighting`` into the nearest group closer than tau, or a new one; that group's id."""
        embedding = np.array(sighting.embedding, dtype=np.float32).ravel()  # copies: the caller's
        chip = np.array(sighting.chip, dtype=np.uint8)  # buffers are the batch's, and are reused
        if not np.isfinite(embedding).all():
            raise ValueError("the embedding of an unknown face must be finite")
        sighting = UnknownFace(sighting.face, chip, embedding, sighting.quality, sighting.frame, sighting.seen)
        with self._lock:
            tick = next(self._ticks)
            nearest, best = None, math.inf
            for group in self._groups.values():
                if group.embedding_size == embedding.size:
                    d = group.distance(embedding)
                    if d < best:
                        nearest, best = group, d
            if nearest is None or best >= self._tau:
                if len(self._groups) >= self.max_groups:
                    oldest = min(self._groups.values(), key=lambda group: group.tick)
                    log.debug("unknown group %d (seen %d times) dropped to make room", oldest.group_id,
                              oldest.count)
                    del self._groups[oldest.group_id]
                nearest = _Group(next(self._ids), sighting, tick)
                self._groups[nearest.group_id] = nearest
            nearest.take(sighting, self.samples_per_group, tick)
            self.revision += 1
            return nearest.group_id

    def groups(self) -> list[UnknownGroup]:
        """Every group, oldest id first."""
        with self._lock:
            return [self._groups[group_id].snapshot() for group_id in sorted(self._groups)]

    def group(self, group_id: int) -> UnknownGroup | None:
        with self._lock:
            group = self._groups.get(group_id)
            return None if group is None else group.snapshot()

    def remove(self, group_id: int) -> bool:
        """Forget one group (named, or dismissed); False if there is none by that id."""
        with self._lock:
            found = self._groups.pop(group_id, None) is not None
            self.revision += found
            return found

    def clear(self, model_id: str | None = None) -> None:
        """Forget every group; ``model_id`` is whose embeddings come next."""
        with self._lock:
            self._groups.clear()
            self.model_id = model_id
            self.revision += 1
