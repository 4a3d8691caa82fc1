"""``oneshot --self-test``: prove an installation works end to end, in seconds.

Loads both models (checked against their manifests), finds the face in the bundled sample
frame, aligns and embeds it, enrols it into a throwaway encrypted gallery (its key in the
keyring or a key file, as a user's would be, and deleted afterwards), opens that again and
identifies the face.
The same code runs from the source tree and from the frozen installer, so it also proves
that model and resource paths resolve there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .live.enrol import enrol, prepare_candidate
from .errors import SelfTestError
from .storage.repository import Gallery
from .vision.imaging import load_image
from .live.match import Matcher
from .vision.pipeline import FacePipeline
from .resources import sample_face


def run_self_test(provider: str = "auto") -> str:
    """Return a one-line report, or raise ``SelfTestError`` naming the failed step."""
    pipeline = FacePipeline.load(provider)
    image = load_image(sample_face())
    faces = pipeline.find_faces(image)
    if len(faces) != 1:
        raise SelfTestError(f"self-test: expected one face in {sample_face()}, found {len(faces)}")
    with tempfile.TemporaryDirectory(prefix="oneshot-selftest-") as folder:
        path = Path(folder) / "gallery.db"
        with Gallery(path) as gallery:  # encrypted, its key in the keyring or a key file, as a user's
            protection = gallery.protection
            enrol(gallery, Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau), "self-test",
                  prepare_candidate(pipeline, image), pipeline.embedder.duplicate_tau)
        if b"self-test" in path.read_bytes():
            raise SelfTestError("self-test: the encrypted gallery holds a name in the clear")
        with Gallery(path, readonly=True) as gallery:  # reopened: the key is found again
            match = Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau).match(
                pipeline.analyse(image)[0].embedding[None])[0]
            gallery.forget_key()
    if match.name != "self-test":
        raise SelfTestError(f"self-test: the enrolled face was not identified (got {match.name!r})")
    providers = ", ".join(pipeline.providers.providers)
    return (f"OK: detect, align, embed and match work on {pipeline.providers.device} "
            f"({providers}; {pipeline.providers.reason}); distance {match.distance:.3f}; gallery {protection}")
