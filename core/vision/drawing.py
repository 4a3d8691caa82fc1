"""Draw detected faces onto a copy of an image and save it (``oneshot detect --draw``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detect import Face
from ..errors import InputError
from .imaging import LoadedImage

BOX_COLOUR = (0, 200, 0)
LANDMARK_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 128, 0))


def draw_faces(pixels: np.ndarray, faces: list[Face]) -> np.ndarray:
    """A copy of the RGB pixels with each face's box, score and landmarks drawn."""
    canvas = pixels.copy()
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = (round(v) for v in face.box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
        cv2.putText(canvas, f"{face.score:.2f}", (x1, max(0, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thickness, BOX_COLOUR, thickness)
        for (x, y), colour in zip(face.landmarks, LANDMARK_COLOURS):
            cv2.circle(canvas, (round(x), round(y)), 2 * thickness, colour, -1)
    return canvas


def write_drawing(image: LoadedImage, faces: list[Face], folder: Path) -> Path:
    """Save ``<stem>.faces.jpg`` in ``folder`` (never overwriting); return its path.

    ``faces`` are in the original file's coordinates, as the command prints them.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the drawing folder ({exc.strerror or exc})") from None
    local = [face.scaled(1.0 / image.scale) for face in faces]
    canvas = draw_faces(image.pixels, local)
    stem = Path(image.source).stem or "image"
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{image.source}: cannot encode the drawing")
    # Python writes the bytes, not OpenCV: its file functions crash on names that are not UTF-8,
    # and exclusive creation never overwrites a file that appeared since the name was chosen.
    counter = 1
    target = folder / f"{stem}.faces.jpg"
    while True:
        try:
            with open(target, "xb") as stream:
                stream.write(encoded.tobytes())
            return target
        except FileExistsError:
            counter += 1
            target = folder / f"{stem}.faces-{counter}.jpg"
        except OSError as exc:
            raise InputError(f"{target}: cannot write the drawing ({exc.strerror or exc})") from None
