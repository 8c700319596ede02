"""AutoAugment (CIFAR-10 policy) on the device: NumPy and PIL references, grouping, the pipeline hook (with Cutout)."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import pytest
import torch

from keras_lt.data import autoaugment as aa
from keras_lt.data.pipeline import DeviceBatches

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
IMAGES[1] = IMAGES[1] // 4 + 60  # a low-contrast image for autocontrast / equalize


def per_image(values):
    return torch.tensor(values, dtype=torch.float32)


def np_grey(x):
    x = x.astype(np.int64)
    return (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16


def np_blend(degenerate, x, factor):
    return np.clip(degenerate + np.float32(factor) * (x.astype(np.float32) - degenerate), 0, 255).astype(np.uint8)


def np_equalize(channel):
    """PIL's ImageOps.equalize table for one channel."""
    h = np.bincount(channel.ravel(), minlength=256)
    nonzero = h[h > 0]
    step = (nonzero.sum() - nonzero[-1]) // 255 if len(nonzero) > 1 else 0
    if not step:
        return channel
    lut, n = [], step // 2
    for i in range(256):
        lut.append(min(n // step, 255))
        n += h[i]
    return np.array(lut)[channel]


def np_autocontrast(channel):
    lo, hi = channel.min(), channel.max()
    if hi <= lo:
        return channel
    scale = 255.0 / (hi - lo)
    return np.clip((channel * scale - lo * scale).astype(np.int64), 0, 255)


def test_pixel_operations_match_numpy_references():
    x, k = torch.tensor(IMAGES), len(IMAGES)
    np.testing.assert_array_equal(aa.invert(x).numpy(), 255 - IMAGES)
    bits = np.array([4, 5, 6, 8])
    np.testing.assert_array_equal(
        aa.posterize(x, per_image(bits), None).numpy(), IMAGES & ((255 << (8 - bits)) & 255)[:, None, None, None]
    )
    threshold = np.array([0.0, 100.0, 128.0, 256.0])
    t = threshold[:, None, None, None]
    np.testing.assert_array_equal(aa.solarize(x, per_image(threshold), None).numpy(), np.where(IMAGES >= t, 255 - IMAGES, IMAGES))
    magnitude, sign = np.array([0.9, 0.5, 0.3, 0.0]), np.array([1.0, -1.0, 1.0, -1.0])
    factor = 1 + magnitude * sign
    brightness = aa.brightness(x, per_image(magnitude), per_image(sign)).numpy()
    color = aa.color(x, per_image(magnitude), per_image(sign)).numpy()
    contrast = aa.contrast(x, per_image(magnitude), per_image(sign)).numpy()
    for i in range(k):
        np.testing.assert_array_equal(brightness[i], np_blend(np.float32(0), IMAGES[i], factor[i]))
        np.testing.assert_array_equal(color[i], np_blend(np_grey(IMAGES[i])[..., None].astype(np.float32), IMAGES[i], factor[i]))
        mean = np.float32(int(np_grey(IMAGES[i]).mean() + 0.5))
        np.testing.assert_array_equal(contrast[i], np_blend(mean, IMAGES[i], factor[i]))
    equalized, stretched = aa.equalize(x).numpy(), aa.autocontrast(x).numpy()
    for i in range(k):
        for c in range(3):
            np.testing.assert_array_equal(equalized[i, ..., c], np_equalize(IMAGES[i, ..., c]))
            np.testing.assert_array_equal(stretched[i, ..., c], np_autocontrast(IMAGES[i, ..., c]))


# DeepVoltaire/AutoAugment's `SubPolicy` (copied in naver-ai/cmo): the enhancement ranges and the factor.
REFERENCE_RANGES = {op: np.linspace(0.0, 0.9, 10) for op in ("color", "contrast", "sharpness", "brightness")}
PIL_ENHANCE = {"color": "Color", "contrast": "Contrast", "sharpness": "Sharpness", "brightness": "Brightness"}


@pytest.mark.parametrize("op", sorted(PIL_ENHANCE))
def test_enhancements_are_bit_identical_to_pil(op):
    """`ImageEnhance.<Op>(img).enhance(1 + magnitude * random.choice([-1, 1]))` for every magnitude and sign."""
    from PIL import Image
    from PIL import ImageEnhance

    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    images[0] = (np.arange(16 * 16 * 3) % 256).reshape(16, 16, 3)  # every value in every channel
    enhancer = getattr(ImageEnhance, PIL_ENHANCE[op])
    for index in range(10):
        for sign in (-1, 1):
            magnitude = REFERENCE_RANGES[op][index]
            expected = np.stack([np.asarray(enhancer(Image.fromarray(im)).enhance(1 + magnitude * sign)) for im in images])
            # as `apply_policy` passes them: the float64 magnitude table, float signs
            table = torch.tensor([aa.MAGNITUDES[op][index]] * 3, dtype=torch.float64)
            out = aa.FUNCTIONS[op](torch.tensor(images), table, per_image([sign] * 3)).numpy()
            np.testing.assert_array_equal(out, expected, err_msg=f"{op} {magnitude} {sign}")


def test_policy_applies_pil_identical_colour_and_brightness():
    """Sub-policy 6, (0.4, color, 3, 0.6, brightness, 7), one or both operations, against PIL."""
    from PIL import Image
    from PIL import ImageEnhance

    images = np.random.default_rng(8).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    applied = torch.tensor([[True, False], [False, True], [True, True], [True, True]])
    signs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [1.0, 1.0]])
    out = aa.apply_policy(torch.tensor(images), torch.full((4,), 6), applied, signs).numpy()
    ranges = REFERENCE_RANGES
    for i, image in enumerate(images):
        pil = Image.fromarray(image)
        if applied[i, 0]:
            pil = ImageEnhance.Color(pil).enhance(1 + ranges["color"][3] * float(signs[i, 0]))
        if applied[i, 1]:
            pil = ImageEnhance.Brightness(pil).enhance(1 + ranges["brightness"][7] * float(signs[i, 1]))
        np.testing.assert_array_equal(out[i], np.asarray(pil), err_msg=str(i))


def test_geometric_operations():
    x = torch.tensor(IMAGES)
    # translate by 3 pixels (magnitude * width): content moves left, grey fill comes in on the right
    out = aa.translate_x(x, per_image([3 / 8] * 4), per_image([1, 1, 1, 1])).numpy()
    np.testing.assert_array_equal(out[:, :, :5], IMAGES[:, :, 3:])
    assert (out[:, :, 5:] == aa.FILL).all()
    out = aa.translate_y(x, per_image([2 / 8] * 4), per_image([-1, -1, -1, -1])).numpy()
    np.testing.assert_array_equal(out[:, 2:], IMAGES[:, :6])
    assert (out[:, :2] == aa.FILL).all()
    # PIL's rotate(90) is counter-clockwise: np.rot90 over (H, W)
    np.testing.assert_array_equal(aa.rotate(x, per_image([90] * 4), None).numpy(), np.rot90(IMAGES, 1, axes=(1, 2)))
    sheared = aa.shear_x(x, per_image([0.3] * 4), per_image([1, -1, 1, -1]))
    assert sheared.dtype == torch.uint8 and sheared.shape == x.shape
    np.testing.assert_array_equal(aa.shear_x(x, per_image([0.0] * 4), per_image([1] * 4)).numpy(), IMAGES)


def test_grouped_policy_equals_one_image_at_a_time():
    rng = np.random.default_rng(1)
    images = torch.tensor(rng.integers(0, 256, (50, 8, 8, 3), dtype=np.uint8))
    sub = torch.tensor(rng.integers(0, len(aa.CIFAR10_POLICY), 50))
    applied = torch.tensor(rng.random((50, 2)) < 0.7)
    signs = torch.tensor(np.where(rng.random((50, 2)) < 0.5, -1.0, 1.0), dtype=torch.float32)
    batch = aa.apply_policy(images, sub, applied, signs)
    for i in range(50):
        one = aa.apply_policy(images[i : i + 1], sub[i : i + 1], applied[i : i + 1], signs[i : i + 1])
        np.testing.assert_array_equal(batch[i].numpy(), one[0].numpy())


def test_autoaugment_draws_are_seeded_and_follow_the_policy():
    images = torch.tensor(np.random.default_rng(2).integers(0, 256, (400, 8, 8, 3), dtype=np.uint8))
    first = aa.autoaugment(images, torch.Generator().manual_seed(5))
    np.testing.assert_array_equal(first.numpy(), aa.autoaugment(images, torch.Generator().manual_seed(5)).numpy())
    assert first.dtype == torch.uint8 and first.shape == images.shape
    changed = (first != images).flatten(1).any(1).float().mean().item()
    # P(no op changes an image) averaged over the policy, roughly: sub-policies with p < 1 skip often
    p_none = np.mean([(1 - p1) * (1 - p2) for p1, _, _, p2, _, _ in aa.CIFAR10_POLICY])
    assert abs(changed - (1 - p_none)) < 0.12


def test_device_batches_autoaugment_mode():
    images = np.random.default_rng(4).integers(1, 256, (40, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(40) % 4
    plain = DeviceBatches(images, labels, 4, batch_size=40, seed=1)
    strong = DeviceBatches(images, labels, 4, batch_size=40, seed=1, augment="autoaugment", cutout_length=4)
    x_plain, y_plain = plain[0]
    x_strong, y_strong = strong[0]
    np.testing.assert_array_equal(y_plain.numpy(), y_strong.numpy())
    assert x_strong.dtype == torch.uint8 and not torch.equal(x_plain, x_strong)
    np.testing.assert_array_equal(strong[0][0].numpy(), x_strong.numpy())  # keyed by (seed, epoch, batch)
    with pytest.raises(ValueError, match="autoaugment"):
        DeviceBatches(images, labels, 4, augment="randaugment")
