"""CutMix on the device: the box, the paste and the area-corrected lam against a NumPy reference."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import torch

from keras_lt.data.cutmix import box_mask
from keras_lt.data.cutmix import boxes
from keras_lt.data.cutmix import cutmix


def reference_cutmix(background, foreground, lam, centre_y, centre_x):
    """CMO's `rand_bbox` + paste + `lam` reset, one image at a time (naver-ai/cmo, NHWC here)."""
    mixed = background.copy()
    kept = np.empty(len(background))
    height, width = background.shape[1:3]
    for i in range(len(background)):
        cut_rat = np.sqrt(1.0 - lam[i])
        cut_h, cut_w = int(height * cut_rat), int(width * cut_rat)
        y1, y2 = np.clip(centre_y[i] - cut_h // 2, 0, height), np.clip(centre_y[i] + cut_h // 2, 0, height)
        x1, x2 = np.clip(centre_x[i] - cut_w // 2, 0, width), np.clip(centre_x[i] + cut_w // 2, 0, width)
        mixed[i, y1:y2, x1:x2] = foreground[i, y1:y2, x1:x2]
        kept[i] = 1 - (y2 - y1) * (x2 - x1) / (height * width)
    return mixed, kept


def test_cutmix_matches_the_reference_per_image():
    rng = np.random.default_rng(0)
    batch, height, width = 64, 12, 10
    background = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    foreground = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
    lam = rng.beta(1.0, 1.0, batch)
    lam[:3] = [0.0, 1.0, 0.5]  # the whole image, nothing, a quarter-ish box
    mixed, kept = cutmix(torch.tensor(background), torch.tensor(foreground), torch.tensor(lam), torch.Generator().manual_seed(3))

    replay = torch.Generator().manual_seed(3)  # the centres: rows first, then columns
    centre_y = torch.randint(0, height, (batch,), generator=replay).numpy()
    centre_x = torch.randint(0, width, (batch,), generator=replay).numpy()
    expected, expected_lam = reference_cutmix(background, foreground, lam, centre_y, centre_x)
    np.testing.assert_array_equal(mixed.numpy(), expected)
    np.testing.assert_allclose(kept.numpy(), expected_lam, rtol=0, atol=1e-6)
    assert kept.dtype == torch.float32 and mixed.dtype == torch.uint8
    # The corrected lam is the background's share of the pixels.
    from_background = (mixed.numpy() == background).all(-1) & ~(mixed.numpy() == foreground).all(-1)
    assert np.all(from_background.mean((1, 2)) <= kept.numpy() + 1e-6)


def test_one_box_for_the_batch():
    rng = np.random.default_rng(1)
    background = torch.tensor(rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8))
    foreground = torch.tensor(rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8))
    mixed, kept = cutmix(background, foreground, torch.tensor([0.3]), torch.Generator().manual_seed(0))
    assert kept.shape == (1,)
    pasted = (mixed == foreground).all(-1) & (mixed != background).any(-1)
    union = pasted.any(0)
    # every pixel of the box comes from the foreground in every image (same box for the batch)
    assert union.sum() > 0
    assert ((mixed == foreground).all(-1) | ~union).all()
    np.testing.assert_allclose(float(kept[0]), 1 - float(union.sum()) / 64, atol=1e-6)


def test_boxes_are_clipped_and_masks_match():
    top, bottom, left, right = boxes(torch.tensor([0, 7, 4]), torch.tensor([5, 7, 1]), torch.tensor([4, 6, 3]), 4, 8, 8)
    assert top.tolist() == [0, 4, 3] and bottom.tolist() == [2, 8, 5]
    assert left.tolist() == [3, 5, 0] and right.tolist() == [7, 8, 3]
    mask = box_mask(top, bottom, left, right, 8, 8)[..., 0].numpy()
    expected = np.zeros((3, 8, 8), bool)
    for i in range(3):
        expected[i, top[i] : bottom[i], left[i] : right[i]] = True
    np.testing.assert_array_equal(mask, expected)
