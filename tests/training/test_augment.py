"""The domain-shift augmentations: masks from the chip's known landmarks, low resolution, seeding."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the train extra: pip install -e '.[train]'")

from core.vision.align import chip_landmarks  # noqa: E402
from core.training.augment import Augmentation, low_resolution, paint_masks  # noqa: E402
from core.training.config import TrainConfig, shift_of  # noqa: E402
from core.training.shifts import EVALUATION_SEED, shifted_chips  # noqa: E402

SIZE = 150


def textured(batch: int = 6, seed: int = 3) -> torch.Tensor:
    """Chips with fine detail everywhere, so any change to them shows."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(40, 215, size=(batch, 3, SIZE, SIZE)).astype(np.float32))


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_mask_covers_nose_and_mouth_and_leaves_the_eyes_and_forehead_alone():
    chips = textured()
    painted = paint_masks(chips, torch.ones(len(chips), dtype=torch.bool), generator(0))
    marks = chip_landmarks(SIZE).round().astype(int)
    eye_y = marks[:2, 1].max()
    changed = (painted - chips).abs().amax(1) > 1.0  # (B, S, S)
    assert not changed[:, : eye_y + 2].any(), "nothing above the eyes may be painted"
    for x, y in marks[2:]:  # the nose tip and both mouth corners: under the mask on every chip
        assert changed[:, y, x].all()
    below_mouth = marks[3:, 1].max() + 8
    assert changed[:, below_mouth, marks[2, 0]].all(), "the mask reaches below the mouth, towards the chin"
    assert not changed[:, :, :5].any() and not changed[:, :, -5:].any(), "the mask stays inside the cheeks"


def test_masks_vary_and_only_touch_the_chosen_chips():
    chips = textured(batch=8)
    where = torch.tensor([True, False] * 4)
    painted = paint_masks(chips, where, generator(1))
    assert torch.equal(painted[~where], chips[~where])
    areas = ((painted[where] - chips[where]).abs().amax(1) > 1.0).float().mean((1, 2))
    assert len(set(np.round(areas.numpy(), 3))) == 4, "every mask draws its own shape"
    # the fabric is not one colour: mean colour of the painted region differs between masks
    mouth_y, nose_x = int(chip_landmarks(SIZE)[3, 1]), int(chip_landmarks(SIZE)[2, 0])
    colours = painted[where][:, :, mouth_y, nose_x]
    assert torch.cdist(colours, colours).max() > 30


def test_the_same_generator_seed_paints_the_same_and_global_seeds_do_not_matter():
    chips = textured()
    every = torch.ones(len(chips), dtype=torch.bool)
    torch.manual_seed(1)
    first = paint_masks(chips, every, generator(5))
    torch.manual_seed(2)
    again = paint_masks(chips, every, generator(5))
    other = paint_masks(chips, every, generator(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_low_resolution_keeps_size_and_range_and_removes_fine_detail():
    chips = textured()
    where = torch.tensor([True, True, True, False, False, False])
    out = low_resolution(chips, where, generator(0))
    assert out.shape == chips.shape
    assert torch.equal(out[~where], chips[~where])
    detail = lambda x: (x[..., 1:] - x[..., :-1]).abs().mean().item()  # noqa: E731
    assert detail(out[where]) < 0.35 * detail(chips[where])
    assert out.min() >= 0 and out.max() <= 255


def test_augmentation_from_config_carries_the_shares_and_keeps_shifts_without_jitter():
    config = TrainConfig(mask_share=0.5, lowres_share=0.25, greyscale=0.1)
    augmentation = Augmentation.from_config(config)
    assert (augmentation.mask, augmentation.lowres, augmentation.greyscale) == (0.5, 0.25, 0.1)
    assert augmentation.flip > 0
    plain = Augmentation.from_config(TrainConfig(augment=False, mask_share=1.0))
    assert plain.flip == 0 and plain.rotation_degrees == 0 and plain.mask == 1.0
    chips = textured(batch=2)
    out = plain(chips, generator(0))
    assert torch.allclose(out[:, :, :40], chips[:, :, :40], atol=0.5), "no jitter: only the mask changed the chips"
    assert Augmentation.from_config(TrainConfig(augment=False)) is None


def test_a_full_augmentation_with_masks_and_low_resolution_is_seeded():
    augmentation = Augmentation(mask=0.5, lowres=0.5)
    chips = textured(batch=8)
    assert torch.equal(augmentation(chips, generator(4)), augmentation(chips, generator(4)))
    out = augmentation(chips, generator(4))
    assert out.shape == chips.shape and out.min() >= 0 and out.max() <= 255


@pytest.mark.parametrize("field", ["mask_share", "lowres_share"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_config_refuses_shares_outside_zero_to_one(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value}).validated()


def test_the_shift_a_run_is_evaluated_under():
    assert shift_of(TrainConfig()) is None
    assert shift_of(TrainConfig(greyscale=0.5)) == "grey"
    assert shift_of(TrainConfig(lowres_share=0.5, greyscale=0.5)) == "lowres"
    assert shift_of(TrainConfig(mask_share=0.1, lowres_share=0.5)) == "mask"


def test_shifted_held_out_chips_are_seeded_apart_from_training():
    rng = np.random.default_rng(0)
    chips = rng.integers(30, 220, size=(5, SIZE, SIZE, 3), dtype=np.uint8)
    masked = shifted_chips(chips, "mask", seed=0)
    assert masked.dtype == np.uint8 and masked.shape == chips.shape
    assert np.array_equal(masked, shifted_chips(chips, "mask", seed=0))
    # not the masks training's generator (seeded with the run's seed) would paint first
    as_tensor = torch.from_numpy(chips).permute(0, 3, 1, 2).float()
    training_like = paint_masks(as_tensor, torch.ones(5, dtype=torch.bool), generator(0))
    training_like = training_like.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert not np.array_equal(masked, training_like)
    assert EVALUATION_SEED != 0
    grey = shifted_chips(chips, "grey")
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert not np.array_equal(shifted_chips(chips, "lowres"), chips)
    with pytest.raises(ValueError, match="shift must be one of"):
        shifted_chips(chips, "fog")
