"""1:N search: each face's distance to every enrolled person, the best one, or "unknown".

The active model's vectors are held in memory as one float32 matrix and refreshed only when
the gallery changes. A person's distance is the minimum over their samples; a face is that
person when the best distance is below tau, else unknown (``name`` None).

A face seen masked, turned, small or dark is named only below its condition's tau (see
``core.vision.condition``): stricter than the clear tau, since such a face lies farther from its own
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

from ..vision.condition import CLEAR, ConditionTaus, FaceCondition
from ..storage.repository import Gallery
from ..errors import GalleryError
from ..storage.store import GalleryVectors
from ..vision.masks import copies_model_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """The answer for one face: a name or None (unknown), its distance, the top-k candidates."""

    name: str | None
    distance: float | None  # distance to the best candidate (None: no candidate left)
    candidates: tuple[tuple[str, float], ...]
    vetoed: tuple[str, ...] = ()  # people left out because the face is closer to one of their negatives
    tau: float | None = None  # the threshold this face was decided at (its condition's)
    condition: str = "clear"  # the face's condition (``core.vision.condition``): "masked", "dark", ...


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


def _rows(vectors: GalleryVectors, keep: np.ndarray) -> GalleryVectors:
    """The rows of ``vectors`` where ``keep``, people renumbered in their order."""
    owners = vectors.owners[keep]
    present = np.unique(owners)
    renumber = np.full(len(vectors.names), -1, dtype=np.int64)
    renumber[present] = np.arange(len(present))
    matrix = vectors.matrix[keep] if len(owners) else np.zeros((0, 0), np.float32)
    return GalleryVectors([vectors.names[i] for i in present], renumber[owners], matrix, vectors.last_id,
                          vectors.read_at)


class NegativeIndex:
    """Negatives grouped by person, and the column of each of those people in a ``VectorIndex``."""

    def __init__(self, negatives: GalleryVectors, index: VectorIndex) -> None:
        column = {name: i for i, name in enumerate(index.names)}
        # only people who have samples of this model can be vetoed; rows stay grouped by person
        keep = np.array([negatives.names[owner] in column for owner in negatives.owners], dtype=bool)
        self.index = VectorIndex(_rows(negatives, keep))
        self.columns = np.array([column[name] for name in self.index.names], dtype=np.int64)

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


MASKED_SAMPLE = FaceCondition(("masked",), 1.0, 0.0, 0.0, 0.0)


def _merged(distances: np.ndarray, names: list[str], index: VectorIndex, embeddings: np.ndarray,
            factors: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each person's distance: the nearer of ``distances`` and ``index``'s (scaled per row by
    ``factors``); people only ``index`` has get columns after the others."""
    with np.errstate(invalid="ignore"):  # 0 * inf where a face is not compared at all
        scaled = index.person_distances(embeddings) * factors[:, None]
    scaled[~np.isfinite(factors)] = np.inf
    column = {name: i for i, name in enumerate(names)}
    extra = [name for name in index.names if name not in column]
    if extra:
        distances = np.concatenate([distances, np.full((len(distances), len(extra)), np.inf, np.float32)], 1)
        names = names + extra
        column.update((name, len(column) + i) for i, name in enumerate(extra))
    where = np.array([column[name] for name in index.names], dtype=np.int64)
    distances[:, where] = np.minimum(distances[:, where], scaled)
    return distances, names


class Matcher:
    """Matches embeddings of one model against a gallery, caching its vectors.

    Masked samples ("Add masked sample") are searched apart: a face is compared with them at
    the tau of that pair of conditions (masked-to-masked, or clear-to-masked), expressed as a
    distance scaled to the face's own tau, so one decision covers both kinds of sample. A
    masked face is also compared with the masked copies of every clear sample (``core.vision.masks``),
    at the masked-to-masked tau likewise.
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
        self._copy_vectors: GalleryVectors | None = None
        self._copies: VectorIndex | None = None  # clear samples' masked copies, None when there are none
        self._negatives: NegativeIndex | None = None
        self._skipped = 0

    def _refresh(self) -> None:
        """Bring the samples' and negatives' vectors up to date if the gallery has changed since:
        only the samples added since where the gallery can tell (another station's enrolment
        on a shared gallery), else all of them."""
        revision = self.gallery.revision
        if self._index is None or revision != self._revision:
            try:
                vectors = self._read(self.model_id, self._vectors)
                masked = vectors.masked
                index = VectorIndex(vectors if masked is None else _rows(vectors, ~masked))
                masked_index = None if masked is None else VectorIndex(_rows(vectors, masked))
                negative_vectors = self.gallery.negative_vectors(self.model_id)
                negatives = NegativeIndex(negative_vectors, index)
                copy_vectors = self._read(copies_model_id(self.model_id), self._copy_vectors)
            except GalleryError as error:
                if self._index is None:
                    raise
                log.warning("keeping the index in memory: %s", error)  # a shared gallery's server went away
                return
            self._vectors, self._index, self._masked = vectors, index, masked_index
            self._copy_vectors = copy_vectors
            self._copies = VectorIndex(copy_vectors) if len(copy_vectors.owners) else None
            self._negatives = negatives if len(negatives) else None
            self._skipped = vectors.skipped + negative_vectors.skipped
            self._revision = revision

    def _read(self, model_id: str, known: GalleryVectors | None) -> GalleryVectors:
        """``model_id``'s vectors: ``known`` and the rows added since, where the gallery can tell."""
        vectors = None if known is None else self.gallery.appended_vectors(model_id, known)
        return self.gallery.vectors(model_id) if vectors is None else vectors

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
        index, negatives, masked, copies = self._index, self._negatives, self._masked, self._copies
        distances, names = index.person_distances(embeddings), index.names
        faces = conditions or [CLEAR] * len(embeddings)
        if masked is not None:
            distances, names = _merged(distances, names, masked, embeddings, self._masked_factors(faces, False))
        if copies is not None and any(face.masked for face in faces):
            distances, names = _merged(distances, names, copies, embeddings, self._masked_factors(faces, True))
        if negatives is None:
            return distances, names, None
        return distances, names, negatives.veto(embeddings, distances)

    def _masked_factors(self, faces: list[FaceCondition], masked_faces_only: bool) -> np.ndarray:
        """Per face, what scales a distance to a masked vector to the face's own tau (inf: not
        compared, a clear face with masked copies of clear samples)."""
        taus = self.condition_taus
        factors = [1.0 if taus is None else taus.tau(face, self.tau) / taus.pair_tau(face, MASKED_SAMPLE, self.tau)
                   for face in faces]
        if masked_faces_only:
            factors = [factor if face.masked else np.inf for factor, face in zip(factors, faces)]
        return np.array(factors, dtype=np.float32)

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
