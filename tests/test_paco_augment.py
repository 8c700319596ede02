"""CMO's --use_randaug augmentation on the device against PIL and copies of torchvision's transforms."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import torch
from PIL import Image
from PIL import ImageFilter

from keras_lt.data.paco_augment import paco_augment
from keras_lt.data.paco_augment import regular_augment
from keras_lt.data.paco_augment import simclr_augment
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.data.resized_crop import random_resized_boxes
from test_batches import seeded
from test_color_jitter import IMAGES
from test_color_jitter import pil
from test_color_jitter import replay_jitter
from test_color_jitter import tv_to_grayscale


def replay_simclr(images, replay):
    """`augmentation_sim_cifar` image by image with PIL, fed `simclr_augment`'s draws in the documented order."""
    batch, height, width = images.shape[:3]
    top, left, h, w = random_resized_boxes(batch, height, width, replay)
    flipped = torch.rand(batch, generator=replay) < 0.5
    cropped = []
    for k in range(batch):
        t, l, hh, ww = int(top[k]), int(left[k]), int(h[k]), int(w[k])
        img = pil(images[k]).crop((l, t, l + ww, t + hh)).resize((width, height), Image.BILINEAR)
        cropped.append(np.asarray(img.transpose(Image.FLIP_LEFT_RIGHT) if flipped[k] else img))
    jittered = replay_jitter(np.stack(cropped), replay)
    grey = torch.rand(batch, generator=replay) < 0.2
    blurred = torch.rand(batch, generator=replay) <= 0.5
    sigmas = 0.1 + 1.9 * torch.rand(batch, generator=replay, dtype=torch.float64)
    out = []
    for k in range(batch):
        img = pil(jittered[k])
        img = tv_to_grayscale(img) if grey[k] else img
        img = img.filter(ImageFilter.GaussianBlur(radius=float(sigmas[k]))) if blurred[k] else img
        out.append(np.asarray(img))
    return np.stack(out)


def test_simclr_branch_is_augmentation_sim_cifar_on_pil():
    """The whole branch, image by image with PIL, fed the same draws in the documented order."""
    out = simclr_augment(torch.tensor(IMAGES), torch.Generator().manual_seed(7)).numpy()
    expected = replay_simclr(IMAGES, torch.Generator().manual_seed(7))
    for k in range(len(IMAGES)):
        np.testing.assert_array_equal(out[k], expected[k], err_msg=str(k))


def test_paco_augment_picks_one_branch_per_image():
    images = torch.tensor(np.concatenate([IMAGES] * 3))
    out = paco_augment(images, torch.Generator().manual_seed(8))
    np.testing.assert_array_equal(out.numpy(), paco_augment(images, torch.Generator().manual_seed(8)).numpy())
    assert out.dtype == torch.uint8 and out.shape == images.shape
    replay = torch.Generator().manual_seed(8)
    regular = torch.rand(len(images), generator=replay) < 0.5  # imbalance_cifar.py: random.random() < 0.5
    assert 0.3 < regular.float().mean() < 0.7
    first, second = torch.nonzero(regular).squeeze(1), torch.nonzero(~regular).squeeze(1)
    np.testing.assert_array_equal(out[first].numpy(), regular_augment(images[first], replay).numpy())
    np.testing.assert_array_equal(out[second].numpy(), simclr_augment(images[second], replay).numpy())


def test_regular_branch_is_the_autoaugment_pipeline():
    labels = np.arange(len(IMAGES)) % 4
    batches = DeviceBatches(IMAGES, labels, 4, batch_size=len(IMAGES), augment="autoaugment", device="cpu")
    generator = torch.Generator().manual_seed(9)
    expected = batches.augment_batch(torch.tensor(IMAGES), generator)
    np.testing.assert_array_equal(
        regular_augment(torch.tensor(IMAGES), torch.Generator().manual_seed(9)).numpy(), expected.numpy()
    )


def test_device_batches_paco_mode_is_paco_augment_of_the_batch():
    images = np.random.default_rng(6).integers(1, 256, (24, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(24) % 3
    batches = DeviceBatches(images, labels, 3, batch_size=12, seed=2, augment="paco", cutout_length=4, device="cpu")
    x, y = batches[1]
    idx = torch.randperm(24, generator=seeded(2, 0))[12:24]  # batch 1 of the (seed 2, epoch 0) permutation
    np.testing.assert_array_equal(y.numpy(), labels[idx.numpy()])
    # paco_augment's documented draws from the (seed, epoch, batch) generator: the branch of each
    # image, the regular branch's draws for its images, then the SimCLR-like branch's, made by PIL
    replay = seeded(2, 0, 1)
    regular = torch.rand(12, generator=replay) < 0.5
    first, second = torch.nonzero(regular).squeeze(1), torch.nonzero(~regular).squeeze(1)
    assert 0 < len(first) < 12
    chosen = torch.as_tensor(images)[idx]
    np.testing.assert_array_equal(x[first].numpy(), regular_augment(chosen[first], replay, 4, 4).numpy())
    np.testing.assert_array_equal(x[second].numpy(), replay_simclr(chosen[second].numpy(), replay))
