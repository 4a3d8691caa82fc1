"""The training loop on real ORL chips: resume is exact, export matches, registration and activation work."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.models.activation import activate_model  # noqa: E402
from core.vision.embed import FaceEmbedder  # noqa: E402
from core.storage.repository import Gallery  # noqa: E402
from core.models.store import active_embedder, active_id, get_embedder, register_embedder, trained_model_id  # noqa: E402
from core.models.registry import find_model  # noqa: E402
from core.vision.pipeline import FacePipeline  # noqa: E402
from core.models.runtime import create_session  # noqa: E402
from core.training.augment import Augmentation  # noqa: E402
from core.training.data import chips_from_folder  # noqa: E402
from core.training.export import export_onnx, parity  # noqa: E402
from core.training.network import OnnxEmbeddingNet  # noqa: E402
from core.training.trainer import CHECKPOINT, TrainConfig, Trainer, freeze_all_but, trainable_layers  # noqa: E402

CONFIG = TrainConfig(mining="batch-all", margin=1.0, people_per_batch=2, images_per_person=2, epochs=2, train_layers=1, patience=0, warmup_epochs=1)


@pytest.fixture
def chips(orl_folder, pipeline, tmp_path):
    return chips_from_folder(orl_folder([1, 2, 3, 4], images=3), pipeline, crops=True, cache_dir=tmp_path / "cache")


def fresh_net():
    return OnnxEmbeddingNet.from_file(find_model("embed").path)


def trained_weights(net):
    return {name: value.detach().clone() for name, value in net.weights.items() if value.requires_grad}


def test_freezing_leaves_only_the_last_layers_trainable():
    net = fresh_net()
    layers = trainable_layers(net)
    assert freeze_all_but(net, 1) == sum(net.weights[name].numel() for name in layers[-1])
    assert [name for name, p in net.weights.items() if p.requires_grad] == layers[-1]
    assert freeze_all_but(net, 0) == sum(p.numel() for p in net.weights.values())


def test_a_resumed_run_continues_from_the_checkpoint_step_and_ends_where_an_unbroken_run_ends(chips, tmp_path):
    unbroken = Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "unbroken")
    unbroken.run()
    assert unbroken.state.global_step == 4  # 2 epochs x (4 people / P=2)

    steps = []
    interrupted = Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "broken",
                          on_step=lambda report: steps.append(report.step), should_stop=lambda: len(steps) >= 3)
    state = interrupted.run()
    assert state.stop_reason == "cancelled" and (tmp_path / "broken" / CHECKPOINT).is_file()

    resumed = Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "broken",
                      on_step=lambda report: steps.append(report.step))
    assert resumed.resume()
    assert (resumed.state.epoch, resumed.state.step_in_epoch, resumed.state.global_step) == (1, 1, 3)
    assert resumed.run().stop_reason == "all epochs done"
    assert steps == [1, 2, 3, 4], "the resumed run took step 4 only"
    expected, actual = trained_weights(unbroken.net), trained_weights(resumed.net)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.allclose(expected[name], actual[name], atol=1e-6), name
    assert not torch.equal(expected[name], trained_weights(fresh_net().requires_grad_(True))[name]), "training changed nothing"


def test_a_checkpoint_of_other_settings_is_refused(chips, tmp_path):
    Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "run", should_stop=lambda: True).run()
    other = TrainConfig(**{**CONFIG.__dict__, "margin": 0.3})  # margin 1.0 in CONFIG
    from core.training.trainer import TrainingError

    with pytest.raises(TrainingError, match="other settings"):
        Trainer(fresh_net(), other, chips, None, tmp_path / "run").resume()


def test_export_loads_in_the_runtime_and_matches_the_trained_module(chips, tmp_path):
    trainer = Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "run")
    trainer.run()
    shipped = find_model("embed")
    exported = tmp_path / "model.onnx"
    export_onnx(trainer.net, shipped.path, exported)
    worst = parity(trainer.net, exported, chips.chips)
    assert worst <= 1e-4
    session, _ = create_session(exported, "cpu")
    embedder = FaceEmbedder(session, shipped)  # refuses a file whose inputs differ from the manifest
    assert [o.name for o in session.get_outputs()] == ["embeddings"]
    original, _ = create_session(shipped.path, "cpu")
    before = FaceEmbedder(original, shipped).embed(chips.chips[:4])
    assert np.abs(embedder.embed(chips.chips[:4]) - before).max() > 1e-4, "the export holds the trained weights"


def test_registered_model_is_activated_with_the_gallery_re_embedded_and_can_be_switched_back(
        chips, tmp_path, private_models):
    trainer = Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "run")
    trainer.run()
    shipped = find_model("embed")
    export_onnx(trainer.net, shipped.path, tmp_path / "model.onnx")
    spec = register_embedder(tmp_path / "model.onnx", shipped, trained_model_id(shipped), "test model", 0.3,
                             {"training": {"data": "orl"}}, "test")
    assert get_embedder(spec.id).defaults["tau"] == 0.3 and spec.details["parent"] == shipped.id
    assert active_id() is None, "registering must not activate"

    with Gallery(tmp_path / "g.db") as gallery:
        session, _ = create_session(shipped.path, "cpu")
        vectors = FaceEmbedder(session, shipped).embed(chips.chips[:2])
        gallery.enroll("s1", chips.chips[0], vectors[0], shipped.id, 1.0, "test")
        gallery.enroll("s2", chips.chips[3], vectors[1], shipped.id, 1.0, "test")
        activated, embedded = activate_model(spec.id, gallery, "cpu")
        assert activated.spec.id == spec.id
        assert embedded == 2 and len(gallery.sample_vectors(spec.id)) == 2
        assert active_embedder().id == spec.id
        assert FacePipeline.load("cpu").embedder.spec.id == spec.id
        _, embedded_back = activate_model(shipped.id, gallery, "cpu")
        assert embedded_back == 0, "the shipped model's vectors were kept"
        assert active_embedder().id == shipped.id


def test_augmentation_keeps_shape_and_range_and_greyscale_makes_channels_equal(chips):
    batch = torch.from_numpy(chips.chips[:4]).permute(0, 3, 1, 2).float()
    generator = torch.Generator().manual_seed(0)
    out = Augmentation()(batch, generator)
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 255
    assert not torch.equal(out, batch)
    grey = Augmentation(greyscale=1.0)(batch, generator)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    still = Augmentation(flip=0, brightness=0, contrast=0, saturation=0, rotation_degrees=0, scale=0, blur=0)(batch)
    assert torch.allclose(still, batch, atol=1e-3)


def test_the_binary_loss_trains_through_the_same_step_and_its_head_resumes_exactly(chips, tmp_path):
    config = TrainConfig(**{**CONFIG.__dict__, "loss": "binary"})
    unbroken = Trainer(fresh_net(), config, chips, None, tmp_path / "unbroken")
    unbroken.run()
    steps = []
    broken = Trainer(fresh_net(), config, chips, None, tmp_path / "broken",
                     on_step=lambda report: steps.append(report), should_stop=lambda: len(steps) >= 1)
    broken.run()
    resumed = Trainer(fresh_net(), config, chips, None, tmp_path / "broken", on_step=steps.append)
    assert resumed.resume() and resumed.run().stop_reason == "all epochs done"
    assert [report.step for report in steps] == [1, 2, 3, 4]
    assert all(0.0 <= report.active_share <= 1.0 and np.isfinite(report.loss) for report in steps)
    for name, value in unbroken.loss.state_dict().items():  # the pair classifier's head is in the checkpoint
        assert torch.allclose(value, resumed.loss.state_dict()[name], atol=1e-6), name
    for name, value in trained_weights(unbroken.net).items():
        assert torch.allclose(value, trained_weights(resumed.net)[name], atol=1e-6), name


def test_a_damaged_checkpoint_is_refused_with_the_way_out(chips, tmp_path):
    from core.training.trainer import TrainingError

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="unreadable checkpoint.*--restart"):
        Trainer(fresh_net(), CONFIG, chips, None, tmp_path / "run").resume()
