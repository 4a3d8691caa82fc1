"""The PyTorch embedding network reads the shipped ONNX weights and computes what ONNX Runtime does."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.vision.imaging import load_image  # noqa: E402
from core.models.registry import find_model  # noqa: E402
from core.training.network import OnnxEmbeddingNet  # noqa: E402


@pytest.fixture(scope="module")
def network():
    net = OnnxEmbeddingNet.from_file(find_model("embed").path)
    net.eval()
    return net


@pytest.fixture(scope="module")
def chips(pipeline, people):
    found = []
    for photos in people.values():
        for photo in photos:
            image = load_image(photo)
            found.append(pipeline.align(image.pixels, pipeline.detect(image.pixels)[:1])[0])
    return np.stack(found)


def test_matches_onnx_runtime_on_real_chips(network, chips, pipeline):
    expected = pipeline.embed(chips)
    with torch.no_grad():
        actual = network(torch.from_numpy(chips.transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    assert actual.shape == (len(chips), 128)
    assert np.abs(actual - expected).max() <= 1e-4


def test_every_convolution_and_the_projection_are_trainable(network):
    trainable = {name for name, p in network.named_parameters() if p.requires_grad}
    assert sum(name.endswith("conv_weight") for name in trainable) == 29
    assert any(name.endswith("fc_weight") for name in trainable)
    assert not any("input_mean" in name for name in trainable)  # normalisation stays fixed


def test_gradients_flow_to_the_first_layer(network, chips):
    net = OnnxEmbeddingNet.from_file(find_model("embed").path)
    batch = torch.from_numpy(chips[:4].transpose(0, 3, 1, 2).astype(np.float32))
    net(batch).pow(2).sum().backward()
    first = next(p for name, p in net.named_parameters() if name.endswith("conv_weight"))
    assert first.grad is not None and float(first.grad.abs().sum()) > 0


def test_runtime_app_never_imports_torch():
    code = "import sys, gui.launcher, core.cli, core.vision.pipeline, core.live.loop; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
