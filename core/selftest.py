"""``oneshot --self-test``: prove an installation works end to end, in seconds.

Loads both models (checked against their manifests), finds the face in the bundled sample
frame, aligns and embeds it, enrols it into a throwaway gallery and identifies it again.
The same code runs from the source tree and from the frozen installer, so it also proves
that model and resource paths resolve there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .enrol import enrol, prepare_candidate
from .errors import OneShotError
from .gallery import Gallery
from .imaging import load_image
from .match import Matcher
from .pipeline import FacePipeline
from .resources import sample_face


class SelfTestError(OneShotError):
    """The installation does not work; the message says at which step."""


def run_self_test(provider: str = "auto") -> str:
    """Return a one-line report, or raise ``SelfTestError`` naming the failed step."""
    pipeline = FacePipeline.load(provider)
    image = load_image(sample_face())
    faces = pipeline.find_faces(image)
    if len(faces) != 1:
        raise SelfTestError(f"self-test: expected one face in {sample_face()}, found {len(faces)}")
    with tempfile.TemporaryDirectory(prefix="oneshot-selftest-") as folder:
        with Gallery(Path(folder) / "gallery.db") as gallery:
            matcher = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau)
            enrol(gallery, matcher, "self-test", prepare_candidate(pipeline, image), pipeline.embedder.duplicate_tau)
            match = matcher.match(pipeline.analyse(image)[0].embedding[None])[0]
    if match.name != "self-test":
        raise SelfTestError(f"self-test: the enrolled face was not identified (got {match.name!r})")
    providers = ", ".join(pipeline.providers.providers)
    return (f"OK: detect, align, embed and match work on {pipeline.providers.device} "
            f"({providers}; {pipeline.providers.reason}); distance {match.distance:.3f}")
