"""1:N search: each face's distance to every enrolled person, the best one, or "unknown".

The active model's vectors are held in memory as one float32 matrix and refreshed only when
the gallery changes. A person's distance is the minimum over their samples; a face is that
person when the best distance is below tau, else unknown (``name`` None).

Negatives ("that is not X", corrections from the live window) veto a name: a face closer to
one of X's negatives than to X's nearest sample is not X, whatever the distance. X leaves the
candidates; the next one below tau may win, else the face is unknown. Negatives are few, so
they live in a second small matrix searched only when there are some: the search without
negatives does exactly the work it did before.
"""

from __future__ import annotations

import logging

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from .gallery import Gallery, GalleryError, GalleryVectors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """The answer for one face: a name or None (unknown), its distance, the top-k candidates."""

    name: str | None
    distance: float | None  # distance to the best candidate (None: no candidate left)
    candidates: tuple[tuple[str, float], ...]
    vetoed: tuple[str, ...] = ()  # people left out because the face is closer to one of their negatives


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


def decide(distances: np.ndarray, names: list[str], tau: float, top_k: int,
           vetoed: list[np.ndarray] | None = None) -> list[Match]:
    """Turn (M, P) person distances into one Match per row.

    ``vetoed`` (from ``NegativeIndex.veto``): per row, the columns of people vetoed by their
    negatives (their distances there are inf); they are left out of the candidates.
    """
    matches = []
    k = min(top_k, len(names))
    no_veto = np.zeros(0, dtype=np.int64)
    for row, out in zip(distances, vetoed if vetoed is not None else repeat(no_veto)):
        if not k:
            matches.append(Match(None, None, ()))
            continue
        take = min(k + len(out), len(row))  # room for the vetoed, which sort last (inf)
        nearest = np.argpartition(row, take - 1)[:take] if take < len(row) else np.arange(len(row))
        nearest = nearest[np.argsort(row[nearest], kind="stable")]
        if len(out):
            nearest = nearest[np.isfinite(row[nearest])][:k]
        out = tuple(names[i] for i in out)
        if not len(nearest):
            matches.append(Match(None, None, (), out))
            continue
        candidates = tuple((names[i], float(row[i])) for i in nearest)
        best_name, best = candidates[0]
        matches.append(Match(best_name if best < tau else None, best, candidates, out))
    return matches


class NegativeIndex:
    """Negatives grouped by person, and the column of each of those people in a ``VectorIndex``."""

    def __init__(self, negatives: GalleryVectors, index: VectorIndex) -> None:
        column = {name: i for i, name in enumerate(index.names)}
        # only people who have samples of this model can be vetoed; rows stay grouped by person
        keep = np.array([negatives.names[owner] in column for owner in negatives.owners], dtype=bool)
        names = [name for name in negatives.names if name in column]
        renumber = {name: i for i, name in enumerate(names)}
        owners = np.array([renumber[negatives.names[owner]] for owner in negatives.owners[keep]], dtype=np.int64)
        matrix = negatives.matrix[keep] if len(names) else np.zeros((0, 0), np.float32)
        self.index = VectorIndex(GalleryVectors(names, owners, matrix))
        self.columns = np.array([column[name] for name in names], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.columns)

    def veto(self, queries: np.ndarray, distances: np.ndarray) -> list[np.ndarray]:
        """Set (M, P) ``distances`` to inf where a query is closer to one of a person's negatives
        than to that person's nearest sample (strictly: a tie leaves the name alone); return,
        per query, the columns vetoed (``decide``'s ``vetoed``)."""
        negative = self.index.person_distances(queries)  # (M, people with negatives)
        own = distances[:, self.columns]
        closer = negative < own
        own[closer] = np.inf
        distances[:, self.columns] = own
        return [self.columns[row] for row in closer]


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
        self._vectors: GalleryVectors | None = None
        self._index: VectorIndex | None = None
        self._negatives: NegativeIndex | None = None

    def _refresh(self) -> None:
        """Bring the samples' and negatives' vectors up to date if the gallery has changed since:
        only the samples added since where the gallery can tell (another station's enrolment
        on a shared gallery), else all of them."""
        revision = self.gallery.revision
        if self._index is None or revision != self._revision:
            try:
                vectors = None if self._vectors is None else self.gallery.appended_vectors(self.model_id, self._vectors)
                if vectors is None:
                    vectors = self.gallery.vectors(self.model_id)
                index = VectorIndex(vectors)
                negatives = NegativeIndex(self.gallery.negative_vectors(self.model_id), index)
            except GalleryError as error:
                if self._index is None:
                    raise
                log.warning("keeping the index in memory: %s", error)  # a shared gallery's server went away
                return
            self._vectors, self._index, self._negatives = vectors, index, negatives if len(negatives) else None
            self._revision = revision

    @property
    def index(self) -> VectorIndex:
        """The cached sample vectors, reloaded only when the gallery has changed since."""
        self._refresh()
        return self._index

    @property
    def negative_index(self) -> NegativeIndex | None:
        """The cached negatives (None when nobody has any), reloaded with ``index``."""
        self._refresh()
        return self._negatives

    def distances(self, embeddings: np.ndarray) -> tuple[np.ndarray, list[str], list[np.ndarray] | None]:
        """(M, P) distance to each person, inf where the person's negatives veto them; the
        names of the columns; per row the vetoed columns (None: nobody has negatives)."""
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        self._refresh()
        index, negatives = self._index, self._negatives
        distances = index.person_distances(embeddings)
        if negatives is None:
            return distances, index.names, None
        return distances, index.names, negatives.veto(embeddings, distances)

    def match(self, embeddings: np.ndarray) -> list[Match]:
        """One Match per embedding row."""
        if not len(embeddings):
            return []
        distances, names, vetoed = self.distances(embeddings)
        return decide(distances, names, self.tau, self.top_k, vetoed)
