"""The YOLO-style one-stage face detector: resize, one network pass, decode the grid, NMS.

Two networks fit this mould; the manifest's ``outputs.decoder`` names which grid reader to use.
CenterFace predicts on a dense grid at stride 4: a score Pc per cell, the box size as
log-scales, a sub-cell centre offset and five landmarks relative to the box. YuNet predicts
on three grids, strides 8/16/32 (``core.vision.yunet``). We decode every cell whose Pc passes
the score threshold into a box and landmarks, run our own NMS and map the survivors back to
the caller's pixel coordinates. Both give the five points in the same order (see ``Face``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ModelError
from ..models.registry import ModelSpec, verify_file
from ..models.runtime import create_session
from .nms import nms
from .yunet import OUTPUTS as YUNET_OUTPUTS, decode_yunet

CENTERFACE_OUTPUTS = ("heatmap", "scale", "offset", "landmarks")
# grids, score threshold, network input (height, width) -> boxes, scores, landmarks
GridDecode = Callable[[dict, float, tuple[int, int]], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Face:
    """One detected face: box (x1, y1, x2, y2), score Pc, five (x, y) landmarks.

    Landmarks: the eye on the image's left, the other eye, nose tip, left and right mouth
    corner (as seen in the image).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def landmark_array(self) -> np.ndarray:
        """Landmarks as a (5, 2) float array, for alignment."""
        return np.asarray(self.landmarks, dtype=np.float64)

    def scaled(self, factor: float) -> "Face":
        """The same face in coordinates multiplied by ``factor``."""
        return Face(
            box=tuple(float(v) * factor for v in self.box),
            score=self.score,
            landmarks=tuple((x * factor, y * factor) for x, y in self.landmarks),
        )


@dataclass(frozen=True)
class DetectorInput:
    """A frame resized and padded for the network, and how to map results back."""

    blob: np.ndarray  # (1, 3, H, W) float32, 0..255, channels in the manifest's order
    factor: float  # network pixels per frame pixel
    frame_size: tuple[int, int]  # (width, height) of the frame


class FaceDetector:
    """Detect faces in RGB frames with the session of a grid detector (CenterFace or YuNet).

    ``max_side`` bounds the network's input: frames larger than that are shrunk (faster, and
    faces in a webcam frame are large). Smaller frames are enlarged up to ``min_side``,
    which sharpens the landmarks (on the shared photos our vectors come 0.034 from dlib's
    own pipeline on average at 640, 0.041 at 320), but by at most ``max_upscale`` (None: the
    manifest's ``input.max_upscale``): a tight 92x112 face crop (ORL) enlarged to 640 fills
    CenterFace's grid and is missed 3 times in 400 and doubled 84 times; enlarged 3x it is
    found once, and only once, in all 400. YuNet's points are best on such crops at 2x.
    """

    def __init__(
        self,
        session,
        spec: ModelSpec,
        score_threshold: float | None = None,
        nms_threshold: float | None = None,
        max_side: int = 1280,
        min_side: int = 640,
        max_upscale: float | None = None,
    ) -> None:
        _check_session(session, spec)
        self.session = session
        self.spec = spec
        self.configure(score_threshold, nms_threshold)
        self.max_side = max_side
        self.min_side = min_side
        self.max_upscale = float(spec.input["max_upscale"] if max_upscale is None else max_upscale)
        self.outputs, self._decode_grid = grid_decoder(spec)
        self.bgr = spec.input["channels"] == "BGR"
        self.multiple = int(spec.input["size_multiple"])

    @classmethod
    def open(cls, spec: ModelSpec, provider: str = "auto", **options) -> "FaceDetector":
        """A detector on a new session of the spec's file, once it matches its sha256 (benchmarks
        and tests compare the shipped detectors this way; the pipeline opens the default one)."""
        verify_file(spec)
        return cls(create_session(spec.path, provider)[0], spec, **options)

    def configure(self, score_threshold: float | None = None, nms_threshold: float | None = None) -> None:
        """Set both thresholds; None takes the manifest's value (the one place defaults live)."""
        score = float(self.spec.defaults["score_threshold"] if score_threshold is None else score_threshold)
        overlap = float(self.spec.defaults["nms_threshold"] if nms_threshold is None else nms_threshold)
        if not (0.0 <= score <= 1.0 and 0.0 <= overlap <= 1.0):
            raise ValueError("score and NMS thresholds must lie in [0, 1]")
        self.score_threshold, self.nms_threshold = score, overlap

    def detect(self, rgb: np.ndarray, long_side: int | None = None,
               score_threshold: float | None = None) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB frame, best score first, in frame pixels.

        ``long_side`` fixes the network input's longest side (the live loop's choice, see
        ``LIVE_LONG_SIDE``); by default it fits [min_side, max_side]. ``score_threshold``
        replaces the configured Pc for this call (the live loop's, see ``live_threshold``).
        """
        prepared = self.prepare(rgb, long_side)
        return self.decode(self.infer(prepared.blob), prepared, score_threshold)

    def prepare(self, rgb: np.ndarray, long_side: int | None = None) -> DetectorInput:
        """Resize so the longest side is ``long_side`` or fits [min_side, max_side]; pad to the size multiple."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        longest = max(height, width)
        target = long_side or min(self.max_side, max(self.min_side, longest))
        factor = min(target / longest, self.max_upscale)
        new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
        if (new_w, new_h) != (width, height):
            rgb = resize_for_network(rgb, (new_w, new_h))
        pad_h, pad_w = -new_h % self.multiple, -new_w % self.multiple
        blob = np.zeros((1, 3, new_h + pad_h, new_w + pad_w), dtype=np.float32)
        blob[0, :, :new_h, :new_w] = rgb.transpose(2, 0, 1)[::-1] if self.bgr else rgb.transpose(2, 0, 1)
        return DetectorInput(blob=blob, factor=factor, frame_size=(width, height))

    def infer(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        """One network pass: the output grids by name."""
        return dict(zip(self.outputs, self.session.run(list(self.outputs), {self.spec.input["name"]: blob})))

    def decode(self, grids: dict[str, np.ndarray], prepared: DetectorInput,
               score_threshold: float | None = None) -> list[Face]:
        """Grid cells above the score threshold -> boxes and landmarks -> NMS -> frame pixels."""
        threshold = self.score_threshold if score_threshold is None else score_threshold
        boxes, scores, landmarks = self._decode_grid(grids, threshold, prepared.blob.shape[2:])
        keep = nms(boxes, scores, threshold, self.nms_threshold)
        width, height = prepared.frame_size
        boxes = boxes[keep] / prepared.factor
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        landmarks = landmarks[keep] / prepared.factor
        return [
            Face(
                box=tuple(float(v) for v in box),
                score=float(score),
                landmarks=tuple((float(x), float(y)) for x, y in points),
            )
            for box, score, points in zip(boxes, scores[keep], landmarks)
        ]


def resize_for_network(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (width, height): halve by pixel averaging while that stays above it, then bilinear.

    Bilinear alone reads every source pixel only down to half size, so larger steps go through
    OpenCV's fast exact-halving average first. 640x480 to the live 384x288 takes 0.14 ms this
    way against 0.93 for averaging all the way (INTER_AREA), 1920x1080 to 384x216 0.70 against
    2.6; NumPy index sampling takes 2.7-3.3 (``tests/benchmarks/test_preprocess.py``). On the
    shared photos the same faces are found and their descriptors move a median 0.003 (tau 0.36).
    """
    width, height = size
    while rgb.shape[1] >= 2 * width and rgb.shape[0] >= 2 * height:
        rgb = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


def decode_grid(
    grids: dict[str, np.ndarray], score_threshold: float, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode the first image's grid: boxes (N, 4), scores (N,), landmarks (N, 5, 2).

    Only cells with Pc >= ``score_threshold`` are decoded, in network-input pixels.
    """
    heatmap = grids["heatmap"][0, 0]
    rows, cols = np.nonzero(heatmap >= score_threshold)
    scores = heatmap[rows, cols].astype(np.float64)
    log_h, log_w = grids["scale"][0][:, rows, cols]
    off_y, off_x = grids["offset"][0][:, rows, cols]
    heights = np.exp(log_h.astype(np.float64)) * stride
    widths = np.exp(log_w.astype(np.float64)) * stride
    x1 = (cols + off_x + 0.5) * stride - widths / 2
    y1 = (rows + off_y + 0.5) * stride - heights / 2
    boxes = np.stack([x1, y1, x1 + widths, y1 + heights], axis=1)
    relative = grids["landmarks"][0][:, rows, cols].astype(np.float64)  # (10, N): y0, x0, y1, ...
    points_x = relative[1::2] * widths + x1
    points_y = relative[0::2] * heights + y1
    landmarks = np.stack([points_x.T, points_y.T], axis=2)
    return boxes, scores, landmarks


def grid_decoder(spec: ModelSpec) -> tuple[tuple[str, ...], GridDecode]:
    """The output names and the grid reader of the network the manifest's ``outputs.decoder`` names."""
    kind = spec.outputs.get("decoder")
    if kind == "centerface":
        stride = int(spec.outputs["stride"])
        return CENTERFACE_OUTPUTS, lambda grids, threshold, _size: decode_grid(grids, threshold, stride)
    if kind == "yunet":
        return YUNET_OUTPUTS, decode_yunet
    raise ModelError(f"{spec.path}: unknown grid decoder {kind!r} in the manifest")


def _check_session(session, spec: ModelSpec) -> None:
    """Fail loudly if the session is not the detector the manifest describes."""
    inputs = [(i.name, len(i.shape)) for i in session.get_inputs()]
    outputs = {o.name for o in session.get_outputs()}
    expected_outputs = set(grid_decoder(spec)[0])
    if inputs != [(spec.input["name"], 4)] or not expected_outputs <= outputs:
        raise ModelError(
            f"{spec.path}: not the face detector its manifest describes "
            f"(inputs {inputs}, outputs {sorted(outputs)})"
        )
