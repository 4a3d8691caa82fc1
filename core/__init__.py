"""OneShot's recognition core: no Qt, usable from scripts, the CLI and the GUI alike.

The public API is small, NumPy in and frozen dataclasses out, and loads nothing at import::

    from core import FacePipeline, load_image, distance
    pipeline = FacePipeline.load()            # opens the shipped models (CUDA if available)
    results = pipeline.analyse(load_image("a.jpg"))
    d = distance(results[0].embedding, other_embedding)   # same person when d < pipeline.tau
"""

from .vision.align import align_face
from .vision.detect import Face
from .vision.embed import distance, same_person
from .errors import ImageError, InputError, ModelError, NoFaceError, OneShotError
from .vision.imaging import LoadedImage, load_image
from .vision.pipeline import FacePipeline, FaceResult

__all__ = [
    "Face", "FacePipeline", "FaceResult", "ImageError", "InputError", "LoadedImage", "ModelError",
    "NoFaceError", "OneShotError", "align_face", "distance", "load_image", "same_person",
]
