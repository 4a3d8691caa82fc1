"""One-shot enrolment: one good photo of a face becomes a person in the gallery.

The same steps serve the command line, "Enroll from photo" and "Enroll from webcam": find
exactly one face (or the one chosen by number or box), pass the quality gate, embed it,
refuse a face that already matches someone else (unless forced, and say who), refuse a
sample farther than tau from the person it is added to (unless confirmed, and say how far),
then store chip and vector in one transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..vision.condition import CLEAR, FaceCondition
from ..vision.detect import Face
from ..errors import AlreadyEnrolledError, MaskedSampleError, NotLiveError, NotThisPersonError
from ..storage.repository import Gallery
from ..storage.store import Person
from ..storage.names import name_key
from ..vision.imaging import LoadedImage
from ..vision.liveness import LIVE_THRESHOLD
from ..vision.masks import copies_model_id, copy_vectors
from .match import Match, Matcher
from ..vision.pipeline import FacePipeline
from ..errors import QualityError
from ..vision.quality import QualityLimits, QualityReport, measure_quality, select_face


@dataclass(frozen=True, eq=False)
class EnrolmentCandidate:
    """A face ready to enrol: where it is, its chip, its vector and its quality."""

    face: Face  # in the original photo's coordinates
    chip: np.ndarray
    embedding: np.ndarray
    quality: QualityReport
    source: str
    liveness: float | None = None  # checked at preparation when asked for
    condition: FaceCondition = CLEAR
    copies: np.ndarray | None = None  # the mean descriptor of its masked copies (``core.vision.masks``)


@dataclass(frozen=True)
class EnrolmentResult:
    person: Person
    similar: Match | None  # someone else this face matches below tau (enrolled all the same)
    warning: str | None = None  # stored, but worth telling the user (a masked face as a plain sample)


def check_live(source: str, score: float) -> None:
    """Refuse a face whose liveness (one photo's, or a burst's median) is below the threshold."""
    if not score >= LIVE_THRESHOLD:
        raise NotLiveError(source, score, LIVE_THRESHOLD)


def person_distance(matcher: Matcher, name: str, embedding: np.ndarray) -> float | None:
    """Squared distance from ``embedding`` to the nearest of ``name``'s samples; None if they have none."""
    index = matcher.index
    key = name_key(name)
    columns = [i for i, enrolled in enumerate(index.names) if name_key(enrolled) == key]
    if not columns:
        return None
    return float(index.person_distances(embedding[None])[0, columns[0]])


def prepare_candidate(pipeline: FacePipeline, image: LoadedImage, use_largest: bool = False,
                      limits: QualityLimits = QualityLimits(), face_number: int | None = None,
                      box: tuple[float, float, float, float] | None = None,
                      liveness: bool = False) -> EnrolmentCandidate:
    """Detect, choose and check the face, then embed it; raise with every reason it fails.

    ``face_number`` (from 1, as ``oneshot detect`` lists them) or ``box`` (x1, y1, x2, y2 in
    the original photo's pixels) chooses one face of a group photo: see ``select_face``.
    With ``liveness`` a face that looks like a photo or a screen is refused (``NotLiveError``).
    """
    if box is not None:
        box = tuple(float(v) / image.scale for v in box)
    face = select_face(pipeline.detect(image.pixels), image.source, face_number, box, use_largest)
    score = None
    if liveness:  # first: a photo held up is refused for what it is, not for its pose or light
        score = float(pipeline.live_scores(image.pixels, [face])[0])
        check_live(image.source, score)
    chip = pipeline.align(image.pixels, [face])
    condition = pipeline.assess([face], chip)[0]
    if condition.masked:  # the nose and mouth landmarks are guesses under a mask: their pitch says nothing
        limits = replace(limits, pitch_range=(-math.inf, math.inf))
    report = measure_quality(image.pixels, face, image.scale, limits)
    if not report.ok:
        raise QualityError(image.source, report)
    embedding = pipeline.embed(chip)[0]
    copies = None if condition.masked else copy_vectors(pipeline.embed, chip)[0]
    return EnrolmentCandidate(face.scaled(image.scale), chip[0], embedding, report, image.source, score, condition,
                              copies)


def enrol(gallery: Gallery, matcher: Matcher, name: str, candidate: EnrolmentCandidate,
          duplicate_tau: float, force: bool = False, add_sample: bool = False,
          confirmed: bool = False, masked: bool = False) -> EnrolmentResult:
    """Store the candidate as ``name`` (a new person, or one more sample of them).

    A face closer than ``duplicate_tau`` to someone else is refused unless forced; one
    between that and tau is stored and reported back, so the caller can warn. A sample
    added to a person (``add_sample``) farther than the matcher's tau from all of their
    samples is refused unless ``confirmed`` (the user says it is them all the same).
    ``masked``: a sample of an enrolled person wearing a mask, refused when no mask is seen
    (unless forced); a masked face stored as a plain sample is stored with a warning.
    """
    if masked and not add_sample:
        raise MaskedSampleError(f"{candidate.source}: a masked sample is added to someone enrolled with a clear "
                                "face: enrol them without a mask first")
    if masked and not candidate.condition.masked and not force:
        raise MaskedSampleError(f"{candidate.source}: no mask is seen on this face (covered "
                                f"{candidate.condition.covered:.2f}); add it as an ordinary sample (force)")
    gallery.check_name(name, enrolled=add_sample)
    match = matcher.match(candidate.embedding[None])[0]
    someone_else = match.name is not None and name_key(match.name) != name_key(name)
    if someone_else and match.distance < duplicate_tau and not force:
        raise AlreadyEnrolledError(candidate.source, match.name, match.distance)
    if add_sample and not confirmed:
        d = person_distance(matcher, name, candidate.embedding)
        if d is not None and d >= matcher.tau:
            raise NotThisPersonError(candidate.source, gallery.person(name).name, d, matcher.tau)
    derived = {} if masked or candidate.copies is None else {copies_model_id(matcher.model_id): candidate.copies}
    person = gallery.enroll(name, candidate.chip, candidate.embedding, matcher.model_id,
                            candidate.quality.score, candidate.source, add_to_existing=add_sample, masked=masked,
                            derived=derived)
    warning = None
    if candidate.condition.masked and not masked:
        warning = (f"{candidate.source}: this face looks masked (covered {candidate.condition.covered:.2f}): a photo "
                   "without a mask makes a better sample; a masked one is best added as a masked sample")
    return EnrolmentResult(person, match if someone_else else None, warning)


def enrol_views(gallery: Gallery, matcher: Matcher, name: str, candidates: list[EnrolmentCandidate],
                duplicate_tau: float, force: bool = False, add_sample: bool = False,
                confirmed: bool = False) -> EnrolmentResult:
    """Several views of one face (a guided enrolment: straight, a little to each side) as samples of ``name``.

    Every check runs before anything is stored, so a refusal leaves the gallery as it was: no
    view closer than ``duplicate_tau`` to someone else (unless ``force``), and each within tau
    of the views before it (and, added to an enrolled person, of their samples) unless
    ``confirmed``. The first view is then stored as ``enrol`` would, the others as its samples.
    """
    if not candidates:
        raise ValueError("no views to enrol")
    gallery.check_name(name, enrolled=add_sample)
    shown = gallery.person(name).name if add_sample else name
    for n, view in enumerate(candidates):
        match = matcher.match(view.embedding[None])[0]
        if (not force and match.name is not None and name_key(match.name) != name_key(name)
                and match.distance < duplicate_tau):
            raise AlreadyEnrolledError(view.source, match.name, match.distance)
        if confirmed:
            continue
        earlier = [float(np.sum((view.embedding - other.embedding) ** 2)) for other in candidates[:n]]
        stored = person_distance(matcher, name, view.embedding) if add_sample else None
        d = min(earlier + ([stored] if stored is not None else []), default=None)
        if d is not None and d >= matcher.tau:
            raise NotThisPersonError(view.source, shown, d, matcher.tau)
    first, *others = candidates
    result = enrol(gallery, matcher, name, first, duplicate_tau, force=force, add_sample=add_sample, confirmed=True)
    person = result.person
    for view in others:
        person = enrol(gallery, matcher, person.name, view, duplicate_tau, force=True, add_sample=True,
                       confirmed=True).person
    return EnrolmentResult(person, result.similar)
