"""Tests of keras_lt.data.color_jitter: PIL's HSV conversions, torchvision's ColorJitter and RandomGrayscale."""

import numpy as np
import torch
from PIL import Image
from PIL import ImageEnhance

from keras_lt.data.color_jitter import adjust_hue
from keras_lt.data.color_jitter import color_jitter
from keras_lt.data.color_jitter import hsv_to_rgb
from keras_lt.data.color_jitter import random_grayscale
from keras_lt.data.color_jitter import rgb_to_hsv

IMAGES = np.random.default_rng(0).integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
IMAGES[0] = (np.arange(32 * 32 * 3) % 256).reshape(32, 32, 3)  # every value in every channel
IMAGES[1] = 77  # flat: grey pixels in HSV, one-level histograms
IMAGES[2, ..., 1] = IMAGES[2, ..., 0]  # ties between channels (hue sectors)


def pil(image):
    return Image.fromarray(np.asarray(image))


# torchvision's functional PIL ops as ColorJitter / RandomGrayscale call them (transforms/_functional_pil.py).
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


def replay_jitter(images, replay, probability=0.8, strength=(0.4, 0.4, 0.4, 0.1)):
    """`RandomApply([ColorJitter(*strength)], p)` per image with PIL, fed `color_jitter`'s draws.

    As torchvision, a part of strength 0 is not applied (its factor is None there).
    """
    batch = len(images)
    jittered = torch.rand(batch, generator=replay) <= probability
    order = torch.argsort(torch.rand((batch, 4), generator=replay), dim=1)
    u = torch.rand((batch, 4), generator=replay)
    bounds = torch.tensor([[1 - s, 1 + s] for s in strength[:3]] + [[-strength[3], strength[3]]])
    factors = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * u
    out = []
    for k in range(batch):
        img = pil(images[k])
        if jittered[k]:
            for fn_id in order[k].tolist():  # ColorJitter.forward: fn_idx, each with its factor
                if strength[fn_id]:
                    img = TV_JITTER[fn_id](img, float(factors[k, fn_id]))
        out.append(np.asarray(img))
    return np.stack(out)


def test_rgb_to_hsv_is_pils_convert():
    out = rgb_to_hsv(torch.tensor(IMAGES))
    assert out.dtype == torch.int64 and out.shape == IMAGES.shape
    expected = np.stack([np.asarray(pil(image).convert("HSV")) for image in IMAGES])
    np.testing.assert_array_equal(out.numpy(), expected)


def test_hsv_to_rgb_is_pils_merge_and_convert():
    hsv = np.random.default_rng(1).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    hsv[0, ..., 1] = 0  # no saturation: grey, whatever the hue
    hsv[1, ..., 0] = 255  # the last hue byte: sector 6, wrapping to 0
    hsv[2, ..., 2] = 0  # black
    out = hsv_to_rgb(torch.tensor(hsv, dtype=torch.int64))
    assert out.dtype == torch.uint8
    for k in range(len(hsv)):
        channels = [Image.fromarray(np.ascontiguousarray(hsv[k, ..., c])) for c in range(3)]
        expected = Image.merge("HSV", channels).convert("RGB")
        np.testing.assert_array_equal(out[k].numpy(), np.asarray(expected), err_msg=str(k))
    np.testing.assert_array_equal(out[0].numpy(), np.repeat(hsv[0, ..., 2:], 3, axis=-1))


def test_adjust_hue_is_torchvisions_on_pil():
    factors = [0.0, 0.1, -0.1, 0.0037, -0.0037, 0.05, -0.0999, 0.5, -0.5]
    images = torch.tensor(IMAGES[np.arange(len(factors) * 3) % len(IMAGES)])
    hue = torch.tensor(factors * 3, dtype=torch.float32)
    out = adjust_hue(images, hue).numpy()
    for k in range(len(images)):
        expected = tv_adjust_hue(pil(images[k]), float(hue[k]))
        np.testing.assert_array_equal(out[k], np.asarray(expected), err_msg=str(float(hue[k])))


def test_color_jitter_is_torchvisions_on_pil():
    images = torch.tensor(IMAGES)
    out = color_jitter(images, torch.Generator().manual_seed(4)).numpy()
    np.testing.assert_array_equal(out, replay_jitter(images, torch.Generator().manual_seed(4)))
    unchanged = (out == IMAGES).all((1, 2, 3)).mean()
    assert 0.05 < unchanged < 0.45  # about 20% not jittered


def test_color_jitter_probability_one_and_zero():
    images = torch.tensor(IMAGES[:12])
    always = color_jitter(images, torch.Generator().manual_seed(5), probability=1.0).numpy()
    np.testing.assert_array_equal(always, replay_jitter(images, torch.Generator().manual_seed(5), probability=1.0))
    never = color_jitter(images, torch.Generator().manual_seed(5), probability=0.0)
    np.testing.assert_array_equal(never.numpy(), IMAGES[:12])
    assert never.data_ptr() != images.data_ptr()  # a new tensor


def test_random_grayscale_is_torchvisions_on_pil():
    images = torch.tensor(IMAGES)
    out = random_grayscale(images, torch.Generator().manual_seed(5)).numpy()
    chosen = torch.rand(len(IMAGES), generator=torch.Generator().manual_seed(5)) < 0.2
    for k in range(len(IMAGES)):
        expected = tv_to_grayscale(pil(IMAGES[k])) if chosen[k] else pil(IMAGES[k])
        np.testing.assert_array_equal(out[k], np.asarray(expected))
    assert 0 < chosen.sum() < len(IMAGES)
    everything = random_grayscale(images[:3], torch.Generator().manual_seed(0), probability=1.0).numpy()
    expected = np.stack([np.asarray(tv_to_grayscale(pil(image))) for image in IMAGES[:3]])
    np.testing.assert_array_equal(everything, expected)
    none = random_grayscale(images[:3], torch.Generator().manual_seed(0), probability=0.0)
    np.testing.assert_array_equal(none.numpy(), IMAGES[:3])


def test_a_part_of_strength_zero_is_skipped_as_torchvision_skips_it():
    images = torch.tensor(IMAGES[:12])
    off = color_jitter(images, torch.Generator().manual_seed(6), strength=(0, 0, 0, 0), probability=1.0)
    np.testing.assert_array_equal(off.numpy(), IMAGES[:12])  # no HSV round trip for a hue shift of 0
    no_hue = color_jitter(images, torch.Generator().manual_seed(6), strength=(0.4, 0.4, 0.4, 0), probability=1.0)
    expected = replay_jitter(images, torch.Generator().manual_seed(6), probability=1.0, strength=(0.4, 0.4, 0.4, 0))
    np.testing.assert_array_equal(no_hue.numpy(), expected)
