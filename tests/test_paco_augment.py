"""CMO's --use_randaug augmentation on the device against PIL and copies of torchvision's transforms."""

import math

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import pytest
import torch
from PIL import Image
from PIL import ImageEnhance
from PIL import ImageFilter

from keras_lt.data.box_blur import gaussian_blur
from keras_lt.data.box_blur import random_gaussian_blur
from keras_lt.data.color_jitter import adjust_hue
from keras_lt.data.color_jitter import color_jitter
from keras_lt.data.color_jitter import random_grayscale
from keras_lt.data.paco_augment import paco_augment
from keras_lt.data.paco_augment import regular_augment
from keras_lt.data.paco_augment import simclr_augment
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.data.resized_crop import random_resized_boxes
from keras_lt.data.resized_crop import resized_crop

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
IMAGES[0] = (np.arange(32 * 32 * 3) % 256).reshape(32, 32, 3)  # every value in every channel
IMAGES[1] = 77  # flat: grey pixels in HSV, one-level histograms
IMAGES[2, ..., 1] = IMAGES[2, ..., 0]  # ties between channels (hue sectors)


def pil(image):
    return Image.fromarray(np.asarray(image))


# torchvision's functional PIL ops, as ColorJitter / RandomGrayscale call them (torchvision/transforms/_functional_pil.py).
def tv_adjust_hue(img, hue_factor):
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        np_h += np.array(hue_factor * 255).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB")


TV_JITTER = (
    lambda img, f: ImageEnhance.Brightness(img).enhance(f),
    lambda img, f: ImageEnhance.Contrast(img).enhance(f),
    lambda img, f: ImageEnhance.Color(img).enhance(f),  # adjust_saturation
    tv_adjust_hue,
)


def tv_to_grayscale(img):
    grey = np.array(img.convert("L"), dtype=np.uint8)
    return Image.fromarray(np.dstack([grey, grey, grey]), "RGB")


def tv_resized_crop_params(shares, log_ratios, u_top, u_left, height=32, width=32, ratio=(3 / 4, 4 / 3)):
    """`RandomResizedCrop.get_params` (scale (0.2, 1)), fed the same uniforms: the first attempt that fits."""
    area = height * width
    for share, log_ratio in zip(shares, log_ratios):
        target_area = area * share
        aspect_ratio = float(torch.exp(torch.tensor(log_ratio, dtype=torch.float32)))  # a float32 exp, as torchvision
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            return int(u_top * (height - h + 1)), int(u_left * (width - w + 1)), h, w
    return 0, 0, height, width  # the central crop of a square image: all of it


def test_resized_crop_is_pils_crop_and_bilinear_resize():
    boxes = [(0, 0, 32, 32), (3, 5, 13, 20), (0, 10, 32, 17), (19, 0, 13, 32), (7, 7, 1, 1), (31, 31, 1, 1)]
    boxes += [tuple(int(v) for v in RNG.integers([0, 0, 1, 1], [20, 20, 13, 13])) for _ in range(30)]
    top, left, h, w = (torch.tensor([b[i] for b in boxes]) for i in range(4))
    images = torch.tensor(IMAGES[np.arange(len(boxes)) % len(IMAGES)])
    out = resized_crop(images, top, left, h, w, (32, 32)).numpy()
    for k, (t, l, hh, ww) in enumerate(boxes):
        expected = pil(images[k]).crop((l, t, l + ww, t + hh)).resize((32, 32), Image.BILINEAR)
        np.testing.assert_array_equal(out[k], np.asarray(expected), err_msg=str(boxes[k]))


def test_random_resized_boxes_follow_torchvisions_get_params():
    batch = 400
    top, left, h, w = random_resized_boxes(batch, 32, 32, torch.Generator().manual_seed(3))
    replay = torch.Generator().manual_seed(3)
    shares = 0.2 + 0.8 * torch.rand((batch, 10), generator=replay)
    low, high = math.log(3 / 4), math.log(4 / 3)
    log_ratios = low + (high - low) * torch.rand((batch, 10), generator=replay)
    u_top = torch.rand(batch, generator=replay, dtype=torch.float64)
    u_left = torch.rand(batch, generator=replay, dtype=torch.float64)
    for k in range(batch):
        expected = tv_resized_crop_params(shares[k].tolist(), log_ratios[k].tolist(), float(u_top[k]), float(u_left[k]))
        assert (int(top[k]), int(left[k]), int(h[k]), int(w[k])) == expected, k
    share = (h * w).double() / 1024
    assert share.min() >= 0.18 and share.max() <= 1.0 and 0.5 < share.mean() < 0.7  # U(0.2, 1): mean 0.6


@pytest.mark.parametrize("sigmas", [[0.1, 0.5, 1.0, 1.37, 2.0, 0.73], [3.0, 5.5, 0.25]])
def test_gaussian_blur_is_pils(sigmas):
    images = torch.tensor(IMAGES[: len(sigmas)])
    out = gaussian_blur(images, torch.tensor(sigmas, dtype=torch.float64)).numpy()
    for k, sigma in enumerate(sigmas):
        expected = pil(images[k]).filter(ImageFilter.GaussianBlur(radius=sigma))
        np.testing.assert_array_equal(out[k], np.asarray(expected), err_msg=str(sigma))


def test_adjust_hue_is_torchvisions_on_pil():
    factors = [0.0, 0.1, -0.1, 0.0037, -0.0037, 0.05, -0.0999, 0.5, -0.5]
    images = torch.tensor(IMAGES[np.arange(len(factors) * 3) % len(IMAGES)])
    hue = torch.tensor(factors * 3, dtype=torch.float32)
    out = adjust_hue(images, hue).numpy()
    for k in range(len(images)):
        expected = tv_adjust_hue(pil(images[k]), float(hue[k]))
        np.testing.assert_array_equal(out[k], np.asarray(expected), err_msg=str(float(hue[k])))


def replay_jitter(images, replay, probability=0.8):
    """`RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p)` per image with PIL, fed `color_jitter`'s draws."""
    batch = len(images)
    jittered = torch.rand(batch, generator=replay) <= probability
    order = torch.argsort(torch.rand((batch, 4), generator=replay), dim=1)
    u = torch.rand((batch, 4), generator=replay)
    bounds = torch.tensor([[0.6, 1.4], [0.6, 1.4], [0.6, 1.4], [-0.1, 0.1]])
    factors = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * u
    out = []
    for k in range(batch):
        img = pil(images[k])
        if jittered[k]:
            for fn_id in order[k].tolist():  # ColorJitter.forward: fn_idx, each with its factor
                img = TV_JITTER[fn_id](img, float(factors[k, fn_id]))
        out.append(np.asarray(img))
    return np.stack(out)


def test_color_jitter_is_torchvisions_on_pil():
    images = torch.tensor(IMAGES)
    out = color_jitter(images, torch.Generator().manual_seed(4)).numpy()
    np.testing.assert_array_equal(out, replay_jitter(images, torch.Generator().manual_seed(4)))
    unchanged = (out == IMAGES).all((1, 2, 3)).mean()
    assert 0.05 < unchanged < 0.45  # about 20% not jittered


def test_random_grayscale_and_random_blur_are_torchvisions_on_pil():
    images = torch.tensor(IMAGES)
    out = random_grayscale(images, torch.Generator().manual_seed(5)).numpy()
    chosen = torch.rand(len(IMAGES), generator=torch.Generator().manual_seed(5)) < 0.2
    for k in range(len(IMAGES)):
        expected = tv_to_grayscale(pil(IMAGES[k])) if chosen[k] else pil(IMAGES[k])
        np.testing.assert_array_equal(out[k], np.asarray(expected))
    assert 0 < chosen.sum() < len(IMAGES)

    out = random_gaussian_blur(images, torch.Generator().manual_seed(6)).numpy()
    replay = torch.Generator().manual_seed(6)
    blurred = torch.rand(len(IMAGES), generator=replay) <= 0.5
    sigmas = 0.1 + 1.9 * torch.rand(len(IMAGES), generator=replay, dtype=torch.float64)
    for k in range(len(IMAGES)):
        img = pil(IMAGES[k])
        expected = img.filter(ImageFilter.GaussianBlur(radius=float(sigmas[k]))) if blurred[k] else img
        np.testing.assert_array_equal(out[k], np.asarray(expected), err_msg=str(k))


def test_simclr_branch_is_augmentation_sim_cifar_on_pil():
    """The whole branch, image by image with PIL, fed the same draws in the documented order."""
    images = torch.tensor(IMAGES)
    out = simclr_augment(images, torch.Generator().manual_seed(7)).numpy()
    replay = torch.Generator().manual_seed(7)
    top, left, h, w = random_resized_boxes(len(IMAGES), 32, 32, replay)
    flipped = torch.rand(len(IMAGES), generator=replay) < 0.5
    cropped = []
    for k in range(len(IMAGES)):
        t, l, hh, ww = int(top[k]), int(left[k]), int(h[k]), int(w[k])
        img = pil(IMAGES[k]).crop((l, t, l + ww, t + hh)).resize((32, 32), Image.BILINEAR)
        cropped.append(np.asarray(img.transpose(Image.FLIP_LEFT_RIGHT) if flipped[k] else img))
    jittered = replay_jitter(np.stack(cropped), replay)
    grey = torch.rand(len(IMAGES), generator=replay) < 0.2
    blurred = torch.rand(len(IMAGES), generator=replay) <= 0.5
    sigmas = 0.1 + 1.9 * torch.rand(len(IMAGES), generator=replay, dtype=torch.float64)
    for k in range(len(IMAGES)):
        img = pil(jittered[k])
        img = tv_to_grayscale(img) if grey[k] else img
        img = img.filter(ImageFilter.GaussianBlur(radius=float(sigmas[k]))) if blurred[k] else img
        np.testing.assert_array_equal(out[k], np.asarray(img), err_msg=str(k))


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
    batches = DeviceBatches(images, labels, 3, batch_size=12, seed=2, augment="paco", cutout_length=4)
    x, y = batches[1]
    idx = batches.order[12:24]
    expected = paco_augment(torch.as_tensor(images)[idx], batches._generator(batches.epoch, 1), 4, 4)
    np.testing.assert_array_equal(x.numpy(), expected.numpy())
    np.testing.assert_array_equal(y.numpy(), labels[idx.numpy()])
