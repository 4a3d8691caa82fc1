"""1:N search: each face's distance to every enrolled person, the best one, or "unknown".

The active model's vectors are held in memory as one float32 matrix and refreshed only when
the gallery changes. A person's distance is the minimum over their samples; a face is that
person when the best distance is below tau, else unknown (``name`` None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gallery import Gallery, GalleryVectors


@dataclass(frozen=True)
class Match:
    """The answer for one face: a name or None (unknown), its distance, the top-k candidates."""

    name: str | None
    distance: float | None  # distance to the best candidate (None: empty gallery)
    candidates: tuple[tuple[str, float], ...]


class VectorIndex:
    """Exact squared-L2 search over a fixed set of vectors grouped by person."""

    def __init__(self, vectors: GalleryVectors) -> None:
        self.names = vectors.names
        self.matrix = np.ascontiguousarray(vectors.matrix, dtype=np.float32)
        self.squared_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        owners = vectors.owners
        self.starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else owners

    def __len__(self) -> int:
        return len(self.names)

    def person_distances(self, queries: np.ndarray) -> np.ndarray:
        """(M, D) queries -> (M, P) squared distance to each person's nearest sample.

        One matrix product for the whole batch, then in-place passes: at 100k vectors the
        search is bound by reading the 51 MB matrix, so every extra pass over (M, N) counts.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if not len(self.names):
            return np.zeros((len(queries), 0), dtype=np.float32)
        # ||q - g||^2 = ||q||^2 + ||g||^2 - 2 q.g
        distances = queries @ self.matrix.T
        distances *= -2.0
        distances += self.squared_norms
        distances += np.einsum("ij,ij->i", queries, queries)[:, None]
        np.maximum(distances, 0.0, out=distances)
        if len(self.starts) == len(self.matrix):  # one sample each: already per person
            return distances
        return np.minimum.reduceat(distances, self.starts, axis=1)


def decide(distances: np.ndarray, names: list[str], tau: float, top_k: int) -> list[Match]:
    """Turn (M, P) person distances into one Match per row."""
    matches = []
    k = min(top_k, len(names))
    for row in distances:
        if not k:
            matches.append(Match(None, None, ()))
            continue
        nearest = np.argpartition(row, k - 1)[:k] if k < len(row) else np.arange(len(row))
        nearest = nearest[np.argsort(row[nearest], kind="stable")]
        candidates = tuple((names[i], float(row[i])) for i in nearest)
        best_name, best = candidates[0]
        matches.append(Match(best_name if best < tau else None, best, candidates))
    return matches


class Matcher:
    """Matches embeddings of one model against a gallery, caching its vectors."""

    def __init__(self, gallery: Gallery, model_id: str, tau: float, top_k: int = 3) -> None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.gallery = gallery
        self.model_id = model_id
        self.tau = tau
        self.top_k = top_k
        self._revision = None
        self._index: VectorIndex | None = None

    @property
    def index(self) -> VectorIndex:
        """The cached vectors, reloaded only when the gallery has changed since."""
        revision = self.gallery.revision
        if self._index is None or revision != self._revision:
            self._index = VectorIndex(self.gallery.vectors(self.model_id))
            self._revision = revision
        return self._index

    def match(self, embeddings: np.ndarray) -> list[Match]:
        """One Match per embedding row."""
        if not len(embeddings):
            return []
        embeddings = np.atleast_2d(embeddings)
        index = self.index
        return decide(index.person_distances(embeddings), index.names, self.tau, self.top_k)
