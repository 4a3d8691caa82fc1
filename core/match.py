"""1:N search: each face's distance to every enrolled person, the best one, or "unknown".

The active model's vectors are held in memory as one float32 matrix and refreshed only when
the gallery changes. A person's distance is the minimum over their samples; a face is that
person when the best distance is below tau, else unknown (``name`` None).

A face seen masked, turned, small or dark is named only below its condition's tau (see
``core.condition``): stricter than the clear tau, since such a face lies farther from its own
person while strangers stay as near.

Negatives ("that is not X", corrections from the live window) veto a name: a face closer to
one of X's negatives than to X's nearest sample is not X, whatever the distance. X leaves the
candidates; the next one below tau may win, else the face is unknown. Negatives are few, so
they live in a second small matrix searched only when there are some: the search without
negatives does exactly the work it did before.
"""

from __future__ import annotations

import logging

from dataclasses import dataclass, replace
from itertools import repeat

import numpy as np

from .condition import CLEAR, ConditionTaus, FaceCondition
from .gallery import Gallery, GalleryError, GalleryVectors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """The answer for one face: a name or None (unknown), its distance, the top-k candidates."""

    name: str | None
    distance: float | None  # distance to the best candidate (None: no candidate left)
    candidates: tuple[tuple[str, float], ...]
    vetoed: tuple[str, ...] = ()  # people left out because the face is closer to one of their negatives
    tau: float | None = None  # the threshold this face was decided at (its condition's)
    condition: str = "clear"  # the face's condition (``core.condition``): "masked", "dark", ...


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


def decide(distances: np.ndarray, names: list[str], tau: float | np.ndarray, top_k: int,
           vetoed: list[np.ndarray] | None = None) -> list[Match]:
    """Turn (M, P) person distances into one Match per row.

    ``tau``: one threshold, or one per row (each face's condition's). ``vetoed`` (from
    ``NegativeIndex.veto``): per row, the columns of people vetoed by their negatives (their
    distances there are inf); they are left out of the candidates.
    """
    matches = []
    k = min(top_k, len(names))
    no_veto = np.zeros(0, dtype=np.int64)
    taus = np.broadcast_to(np.asarray(tau, dtype=np.float64), (len(distances),))
    for row, out, tau in zip(distances, vetoed if vetoed is not None else repeat(no_veto), taus.tolist()):
        if not k:
            matches.append(Match(None, None, (), tau=tau))
            continue
        take = min(k + len(out), len(row))  # room for the vetoed, which sort last (inf)
        nearest = np.argpartition(row, take - 1)[:take] if take < len(row) else np.arange(len(row))
        nearest = nearest[np.argsort(row[nearest], kind="stable")]
        if len(out):
            nearest = nearest[np.isfinite(row[nearest])][:k]
        out = tuple(names[i] for i in out)
        if not len(nearest):
            matches.append(Match(None, None, (), out, tau))
            continue
        candidates = tuple((names[i], float(row[i])) for i in nearest)
        best_name, best = candidates[0]
        matches.append(Match(best_name if best < tau else None, best, candidates, out, tau))
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


def _rows(vectors: GalleryVectors, keep: np.ndarray) -> GalleryVectors:
    """The rows of ``vectors`` where ``keep``, people renumbered in their order."""
    owners = vectors.owners[keep]
    present = np.unique(owners)
    renumber = np.full(len(vectors.names), -1, dtype=np.int64)
    renumber[present] = np.arange(len(present))
    matrix = vectors.matrix[keep] if len(owners) else np.zeros((0, 0), np.float32)
    return GalleryVectors([vectors.names[i] for i in present], renumber[owners], matrix, vectors.last_id,
                          vectors.read_at)


MASKED_SAMPLE = FaceCondition(("masked",), 1.0, 0.0, 0.0, 0.0)


class Matcher:
    """Matches embeddings of one model against a gallery, caching its vectors.

    Masked samples ("Add masked sample") are searched apart: a face is compared with them at
    the tau of that pair of conditions (masked-to-masked, or clear-to-masked), expressed as a
    distance scaled to the face's own tau, so one decision covers both kinds of sample.
    """

    def __init__(self, gallery: Gallery, model_id: str, tau: float, top_k: int = 3,
                 condition_taus: ConditionTaus | None = None) -> None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.gallery = gallery
        self.model_id = model_id
        self.tau = tau
        self.top_k = top_k
        self.condition_taus = condition_taus
        self._revision = None
        self._vectors: GalleryVectors | None = None
        self._index: VectorIndex | None = None
        self._masked: VectorIndex | None = None  # masked samples, None when nobody has any
        self._negatives: NegativeIndex | None = None
        self._skipped = 0

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
                masked = vectors.masked
                index = VectorIndex(vectors if masked is None else _rows(vectors, ~masked))
                masked_index = None if masked is None else VectorIndex(_rows(vectors, masked))
                negative_vectors = self.gallery.negative_vectors(self.model_id)
                negatives = NegativeIndex(negative_vectors, index)
            except GalleryError as error:
                if self._index is None:
                    raise
                log.warning("keeping the index in memory: %s", error)  # a shared gallery's server went away
                return
            self._vectors, self._index, self._masked = vectors, index, masked_index
            self._negatives = negatives if len(negatives) else None
            self._skipped = vectors.skipped + negative_vectors.skipped
            self._revision = revision

    @property
    def index(self) -> VectorIndex:
        """The cached sample vectors, reloaded only when the gallery has changed since."""
        self._refresh()
        return self._index

    @property
    def skipped(self) -> int:
        """Stored vectors (samples' and negatives') left out because their name or vector fails
        to open: what a caller warns about, since those people cannot be named."""
        self._refresh()
        return self._skipped

    @property
    def negative_index(self) -> NegativeIndex | None:
        """The cached negatives (None when nobody has any), reloaded with ``index``."""
        self._refresh()
        return self._negatives

    def distances(self, embeddings: np.ndarray, conditions: list[FaceCondition] | None = None
                  ) -> tuple[np.ndarray, list[str], list[np.ndarray] | None]:
        """(M, P) distance to each person, inf where the person's negatives veto them; the
        names of the columns; per row the vetoed columns (None: nobody has negatives).

        A distance to a masked sample is scaled to the face's tau (see the class docstring);
        ``conditions`` are the faces' (None: clear faces).
        """
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        self._refresh()
        index, negatives, masked = self._index, self._negatives, self._masked
        distances, names = index.person_distances(embeddings), index.names
        if masked is not None:
            distances, names = self._with_masked(distances, names, masked, embeddings, conditions)
        if negatives is None:
            return distances, names, None
        return distances, names, negatives.veto(embeddings, distances)

    def _with_masked(self, distances: np.ndarray, names: list[str], masked: VectorIndex, embeddings: np.ndarray,
                     conditions: list[FaceCondition] | None) -> tuple[np.ndarray, list[str]]:
        """Each person's distance: the nearer of their clear samples' and their masked samples'
        (scaled); people with masked samples only get columns after the others."""
        scaled = masked.person_distances(embeddings)
        if self.condition_taus is not None:
            taus = self.condition_taus
            faces = conditions or [CLEAR] * len(embeddings)
            factors = np.array([taus.tau(face, self.tau) / taus.pair_tau(face, MASKED_SAMPLE, self.tau)
                                for face in faces], dtype=np.float32)
            scaled *= factors[:, None]
        column = {name: i for i, name in enumerate(names)}
        extra = [name for name in masked.names if name not in column]
        if extra:
            distances = np.concatenate([distances, np.full((len(distances), len(extra)), np.inf, np.float32)], 1)
            names = names + extra
            column.update((name, len(column) + i) for i, name in enumerate(extra))
        where = np.array([column[name] for name in masked.names], dtype=np.int64)
        distances[:, where] = np.minimum(distances[:, where], scaled)
        return distances, names

    def match(self, embeddings: np.ndarray, conditions: list[FaceCondition] | None = None) -> list[Match]:
        """One Match per embedding row; with ``conditions``, each decided at its condition's tau."""
        if not len(embeddings):
            return []
        distances, names, vetoed = self.distances(embeddings, conditions)
        if conditions is None or self.condition_taus is None:
            return decide(distances, names, self.tau, self.top_k, vetoed)
        taus = np.array([self.condition_taus.tau(condition, self.tau) for condition in conditions])
        matches = decide(distances, names, taus, self.top_k, vetoed)
        return [replace(match, condition=condition.name) for match, condition in zip(matches, conditions)]
