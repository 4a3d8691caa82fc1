"""Training throughput: photos per second through one P x K = 8 x 4 step, on ORL chips.

Run: ``python -m pytest tests/benchmarks/test_training.py --benchmark-only``. The reference
in the same run is ONNX Runtime embedding the same 32 chips (inference only), so the ratio
says what a training step costs relative to identifying the faces once. Steps run on the
CPU unless torch sees a CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra")

from core.models.registry import find_model  # noqa: E402
from core.training.data import chips_from_folder  # noqa: E402
from core.training.network import OnnxEmbeddingNet  # noqa: E402
from core.training.trainer import TrainConfig, Trainer, pick_device  # noqa: E402

BATCH = 32


@pytest.fixture(scope="module")
def orl_chips(pipeline, data_dir, tmp_path_factory):
    return chips_from_folder(data_dir / "orl", pipeline, crops=True, cache_dir=tmp_path_factory.mktemp("cache"))


def test_reference_embedding_32_chips(benchmark, pipeline, orl_chips):
    chips = orl_chips.chips[:BATCH]
    assert benchmark(pipeline.embed, chips).shape == (BATCH, 128)


@pytest.mark.parametrize("train_layers", [3, 0], ids=["last-3-layers", "all-layers"])
def test_training_step_32_chips(benchmark, orl_chips, tmp_path, train_layers):
    config = TrainConfig(mining="batch-all", margin=1.0, train_layers=train_layers)
    trainer = Trainer(OnnxEmbeddingNet.from_file(find_model("embed").path), config, orl_chips, None, tmp_path,
                      pick_device())
    batches = [batch for epoch in range(3) for batch in trainer.sampler.epoch(epoch)]
    steps = iter(batches * 10)
    loss, active_share = benchmark.pedantic(lambda: trainer._step(next(steps)), rounds=8, warmup_rounds=1)
    benchmark.extra_info["images_per_second"] = BATCH / benchmark.stats.stats.mean
    assert np.isfinite(loss) and 0.0 <= active_share <= 1.0
