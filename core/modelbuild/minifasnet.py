"""Build ONNX copies of the MiniFASNet liveness networks from their PyTorch ``.pth`` files.

minivision-ai/Silent-Face-Anti-Spoofing (Apache-2.0) ships two small presentation-attack
classifiers, MiniFASNetV2 (crop scale 2.7) and MiniFASNetV1SE (scale 4.0), as state dicts.
The app runs ONNX Runtime, not PyTorch, so the networks are rebuilt here with the same
parameter names (``load_state_dict(strict=True)`` proves the architecture matches), exported
once, and checked against PyTorch on real face crops before anything is written.

Input ``crops``: [batch, 3, 80, 80] float32, BGR values 0..255 (upstream feeds OpenCV's BGR
uint8 pixels as floats, no normalisation). Output ``logits``: [batch, 3]; after softmax,
class 1 is a live face, classes 0 and 2 are attacks.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

log = logging.getLogger(__name__)

INPUT_NAME = "crops"
OUTPUT_NAME = "logits"
CROP_SIZE = 80
CLASSES = 3
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime from 1.17 on
PARITY_TOLERANCE = 1e-5  # max |softmax(onnx) - softmax(torch)|

# Channel widths of the pruned networks, as upstream's ``keep_dict``: one entry per tensor
# boundary, so the block starting at index i maps keep[i] -> keep[i+1] -> keep[i+2] -> keep[i+3].
WIDTHS = {
    "v1": (32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231, 128,
           154, 154, 128, 52, 52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26, 128, 308,
           308, 128, 26, 26, 128, 26, 26, 128, 512, 512),
    "v2": (32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231, 128,
           231, 231, 128, 52, 52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26, 128, 308,
           308, 128, 26, 26, 128, 26, 26, 128, 512, 512),
}

# kind -> (widths, squeeze-excitation in the last block of each residual stage, crop scale, file)
NETWORKS = {
    "MiniFASNetV2": ("v2", False, 2.7, "2.7_80x80_MiniFASNetV2.pth"),
    "MiniFASNetV1SE": ("v1", True, 4.0, "4_0_0_80x80_MiniFASNetV1SE.pth"),
}


class ConvBlock(nn.Module):
    """Convolution, batch norm and (unless linear) a per-channel PReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1, activation: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        if activation:
            self.prelu = nn.PReLU(c_out)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.prelu(x) if hasattr(self, "prelu") else x


class SqueezeExcite(nn.Module):
    """Channel gating: global mean -> 1x1 reduce -> ReLU -> 1x1 expand -> sigmoid, times x."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inner = channels // reduction
        self.fc1 = nn.Conv2d(channels, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.fc2 = nn.Conv2d(inner, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        gate = torch.relu(self.bn1(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(self.bn2(self.fc2(gate)))


class Bottleneck(nn.Module):
    """1x1 expand, 3x3 depthwise, linear 1x1 project; with a shortcut inside a stage."""

    def __init__(self, widths: tuple[int, ...], start: int, stride: int, residual: bool, se: bool) -> None:
        super().__init__()
        c_in, c_mid, c_dw, c_out = widths[start:start + 4]
        self.conv = ConvBlock(c_in, c_mid)
        self.conv_dw = ConvBlock(c_mid, c_dw, kernel=3, stride=stride, padding=1, groups=c_mid)
        self.project = ConvBlock(c_dw, c_out, activation=False)
        self.residual = residual
        if se:
            self.se_module = SqueezeExcite(c_out)

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        if hasattr(self, "se_module"):
            y = self.se_module(y)
        return x + y if self.residual else y


class Stage(nn.Module):
    """``blocks`` residual bottlenecks at stride 1 (upstream keeps them in ``.model``)."""

    def __init__(self, widths: tuple[int, ...], start: int, blocks: int, se: bool) -> None:
        super().__init__()
        self.model = nn.Sequential(*(
            Bottleneck(widths, start + 3 * i, 1, residual=True, se=se and i == blocks - 1)
            for i in range(blocks)
        ))

    def forward(self, x):
        return self.model(x)


class MiniFASNet(nn.Module):
    """The 80x80 MiniFASNet: stride-16 trunk, 5x5 depthwise head, 128-d embedding, 3 logits."""

    def __init__(self, widths: tuple[int, ...], se: bool, embedding: int = 128) -> None:
        super().__init__()
        w = widths
        head_kernel = (CROP_SIZE + 15) // 16  # upstream's get_kernel: 5 for 80x80 crops
        self.conv1 = ConvBlock(3, w[0], kernel=3, stride=2, padding=1)
        self.conv2_dw = ConvBlock(w[0], w[1], kernel=3, padding=1, groups=w[1])
        self.conv_23 = Bottleneck(w, 1, 2, residual=False, se=False)
        self.conv_3 = Stage(w, 4, 4, se)
        self.conv_34 = Bottleneck(w, 16, 2, residual=False, se=False)
        self.conv_4 = Stage(w, 19, 6, se)
        self.conv_45 = Bottleneck(w, 37, 2, residual=False, se=False)
        self.conv_5 = Stage(w, 40, 2, se)
        self.conv_6_sep = ConvBlock(w[46], w[47])
        self.conv_6_dw = ConvBlock(w[47], w[48], kernel=head_kernel, groups=w[48], activation=False)
        self.linear = nn.Linear(w[48], embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, CLASSES, bias=False)

    def forward(self, x):
        for stage in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34,
                      self.conv_4, self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = stage(x)
        return self.prob(self.bn(self.linear(torch.flatten(x, 1))))  # dropout: identity at inference


def load_network(pth: Path, kind: str) -> MiniFASNet:
    """The named network with the weights of ``pth`` (``module.`` prefixes of DataParallel dropped)."""
    widths, se, _, _ = NETWORKS[kind]
    state = torch.load(pth, map_location="cpu", weights_only=True)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    network = MiniFASNet(WIDTHS[widths], se)
    network.load_state_dict(state, strict=True)
    return network.eval()


def export_onnx(network: MiniFASNet) -> bytes:
    """Plain opset-17 ONNX with a dynamic batch, serialised deterministically."""
    buffer = io.BytesIO()
    example = torch.zeros(1, 3, CROP_SIZE, CROP_SIZE)
    # The TorchScript exporter (dynamo=False) is deprecated but needs no onnxscript and gives
    # a plain, constant-folded graph with stable bytes; silence only its deprecation notices.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            network, (example,), buffer, dynamo=False, opset_version=OPSET,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    model = onnx.load_from_string(buffer.getvalue())
    model.ir_version = IR_VERSION
    model.producer_name, model.producer_version = "oneshot core.modelbuild", ""
    model.doc_string = "MiniFASNet liveness classifier (Silent-Face-Anti-Spoofing, Apache-2.0)"
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def check_parity(model_bytes: bytes, network: MiniFASNet, crops: np.ndarray) -> float:
    """Max |softmax difference| of ONNX Runtime vs PyTorch on ``crops``; raise past the tolerance."""
    import onnxruntime as ort

    batch = np.ascontiguousarray(crops, dtype=np.float32)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    onnx_probs = _softmax(session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0].astype(np.float64))
    with torch.no_grad():
        torch_probs = _softmax(network(torch.from_numpy(batch)).double().numpy())
    diff = float(np.abs(onnx_probs - torch_probs).max())
    if not diff < PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export disagrees with PyTorch: max softmax diff {diff:.3g} >= {PARITY_TOLERANCE}")
    return diff


def sample_crops(scale: float, folder: Path | None = None) -> np.ndarray:
    """(N, 3, 80, 80) crops of the faces in upstream's sample photos, found by our detector.

    Real faces exercise the network as it will run; when the photos are not at hand the
    check falls back to fixed random images (logged), which still catch a broken export.
    """
    folder = folder or Path(__file__).resolve().parents[3] / "shared" / "data" / "liveness"
    photos = sorted(folder.glob("image_*.jpg")) if folder.is_dir() else []
    if not photos:
        log.warning("%s: no sample photos, checking parity on random crops", folder)
        rng = np.random.default_rng(0)
        return rng.uniform(0, 255, (4, 3, CROP_SIZE, CROP_SIZE)).astype(np.float32)
    from core.vision.imaging import load_image
    from core.vision.liveness import crop_batch, upstream_box
    from core.vision.pipeline import FacePipeline

    pipeline = FacePipeline.load("cpu")
    crops = []
    for photo in photos:
        image = load_image(photo)
        boxes = [upstream_box(face.box) for face in pipeline.detect(image.pixels)]
        crops.append(crop_batch(image.pixels, boxes, scale, CROP_SIZE))
    return np.concatenate(crops)


def build_liveness(pth: Path, kind: str, crops: np.ndarray | None = None) -> bytes:
    """ONNX bytes for one network, after proving ONNX Runtime matches PyTorch on face crops."""
    network = load_network(pth, kind)
    model_bytes = export_onnx(network)
    if crops is None:
        crops = sample_crops(NETWORKS[kind][2])
    diff = check_parity(model_bytes, network, crops)
    log.info("%s: %d bytes, sha256 %s, parity max softmax diff %.2g on %d crops", kind,
             len(model_bytes), hashlib.sha256(model_bytes).hexdigest()[:12], diff, len(crops))
    return model_bytes
