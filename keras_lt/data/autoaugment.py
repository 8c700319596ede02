"""AutoAugment's CIFAR-10 policy (Cubuk et al., 2019) on the device, vectorised over the batch.

The policy and its magnitudes are those of the `CIFAR10Policy` that CMO's AutoAugment recipe uses
(DeepVoltaire/AutoAugment, copied in naver-ai/cmo): 25 sub-policies of two operations; every image
draws one sub-policy uniformly, then applies its first operation with probability `p1` and its
second with probability `p2`. Enhancements and affine maps draw a random sign per application, as
`random.choice([-1, 1])` there; rotation has no sign there and none here.

No per-image Python: all draws are made for the whole batch up front, then each operation runs once
on the images that drew it (at most 14 operation groups per stage). Every operation works on uint8
NHWC images with PIL's arithmetic (truncating blends, ITU-R 601 grey, PIL's autocontrast and
equalize tables), so the pixel operations follow PIL (sharpness's smoothing filter up to rounding).
Magnitudes are float64, as the reference's NumPy ranges; an enhancement factor `1 + magnitude * sign`
is computed in float64 and then cast to float32, as PIL's `Image.blend` receives it (a Python
float, a C `float` alpha), so brightness and colour are bit-identical to PIL. The geometric operations sample like
PIL's (pixel centres, grey fill 128, nearest neighbour for translate and rotate); shears use
`grid_sample`'s bicubic kernel, which is close to but not bit-identical with PIL's.
"""

import math

import numpy as np
import torch

from keras_lt.data import enhance

FILL = 128  # the reference's fillcolor (128, 128, 128)

OPERATIONS = (
    "shearX", "shearY", "translateX", "translateY", "rotate", "color", "posterize",
    "solarize", "contrast", "sharpness", "brightness", "autocontrast", "equalize", "invert",
)

# Magnitude of each operation at the policy's magnitude index 0..9 (the reference's `ranges`).
MAGNITUDES = {
    "shearX": np.linspace(0, 0.3, 10),
    "shearY": np.linspace(0, 0.3, 10),
    "translateX": np.linspace(0, 150 / 331, 10),
    "translateY": np.linspace(0, 150 / 331, 10),
    "rotate": np.linspace(0, 30, 10),
    "color": np.linspace(0.0, 0.9, 10),
    "posterize": np.round(np.linspace(8, 4, 10), 0).astype(int),
    "solarize": np.linspace(256, 0, 10),
    "contrast": np.linspace(0.0, 0.9, 10),
    "sharpness": np.linspace(0.0, 0.9, 10),
    "brightness": np.linspace(0.0, 0.9, 10),
    "autocontrast": [0] * 10,
    "equalize": [0] * 10,
    "invert": [0] * 10,
}

# (p1, op1, magnitude index 1, p2, op2, magnitude index 2): the CIFAR-10 policy.
CIFAR10_POLICY = (
    (0.1, "invert", 7, 0.2, "contrast", 6),
    (0.7, "rotate", 2, 0.3, "translateX", 9),
    (0.8, "sharpness", 1, 0.9, "sharpness", 3),
    (0.5, "shearY", 8, 0.7, "translateY", 9),
    (0.5, "autocontrast", 8, 0.9, "equalize", 2),
    (0.2, "shearY", 7, 0.3, "posterize", 7),
    (0.4, "color", 3, 0.6, "brightness", 7),
    (0.3, "sharpness", 9, 0.7, "brightness", 9),
    (0.6, "equalize", 5, 0.5, "equalize", 1),
    (0.6, "contrast", 7, 0.6, "sharpness", 5),
    (0.7, "color", 7, 0.5, "translateX", 8),
    (0.3, "equalize", 7, 0.4, "autocontrast", 8),
    (0.4, "translateY", 3, 0.2, "sharpness", 6),
    (0.9, "brightness", 6, 0.2, "color", 8),
    (0.5, "solarize", 2, 0.0, "invert", 3),
    (0.2, "equalize", 0, 0.6, "autocontrast", 0),
    (0.2, "equalize", 8, 0.6, "equalize", 4),
    (0.9, "color", 9, 0.6, "equalize", 6),
    (0.8, "autocontrast", 4, 0.2, "solarize", 8),
    (0.1, "brightness", 3, 0.7, "color", 0),
    (0.4, "solarize", 5, 0.9, "autocontrast", 3),
    (0.9, "translateY", 9, 0.7, "translateY", 9),
    (0.9, "autocontrast", 2, 0.8, "solarize", 3),
    (0.8, "equalize", 8, 0.1, "invert", 3),
    (0.7, "translateY", 9, 0.9, "autocontrast", 1),
)


def enhancement_factor(magnitude, sign):
    """`1 + magnitude * sign` as PIL's `ImageEnhance` gets it: float64 arithmetic, then a float32 alpha."""
    return (1.0 + torch.as_tensor(magnitude).double() * torch.as_tensor(sign).double()).float()


def _affine(images, matrix, mode):
    """Samples `images` at `matrix @ (x, y, 1)` of each output pixel centre; grey fill outside.

    `matrix` is `(K, 2, 3)`: input pixel coordinates (PIL's convention: centres at i + 0.5) of the
    output pixel centres, as PIL's `Image.transform(AFFINE, data)`.
    """
    batch, height, width = images.shape[:3]
    device = images.device
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32) + 0.5,
        torch.arange(width, device=device, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3)  # (1, HW, 3)
    source = points @ matrix.transpose(1, 2)  # (K, HW, 2), input (x, y)
    grid = torch.stack([2 * source[..., 0] / width - 1, 2 * source[..., 1] / height - 1], -1)
    grid = grid.reshape(batch, height, width, 2)
    shifted = images.permute(0, 3, 1, 2).float() - FILL  # zero padding of (x - fill) = fill outside
    out = torch.nn.functional.grid_sample(shifted, grid, mode=mode, padding_mode="zeros", align_corners=False)
    out = out.permute(0, 2, 3, 1) + FILL
    return torch.clamp(torch.round(out), 0, 255).to(torch.uint8)


def _matrix(images, a=0.0, b=0.0, c=0.0, d=0.0, e=0.0, f=0.0):
    """`(K, 2, 3)` affine data `(a, b, c, d, e, f)` from per-image tensors or scalars."""
    batch = images.shape[0]
    entries = [torch.as_tensor(v, dtype=torch.float32, device=images.device).expand(batch) for v in (a, b, c, d, e, f)]
    return torch.stack(entries, -1).reshape(batch, 2, 3)


def shear_x(images, magnitude, sign):
    return _affine(images, _matrix(images, 1, magnitude * sign, 0, 0, 1, 0), "bicubic")


def shear_y(images, magnitude, sign):
    return _affine(images, _matrix(images, 1, 0, 0, magnitude * sign, 1, 0), "bicubic")


def translate_x(images, magnitude, sign):
    return _affine(images, _matrix(images, 1, 0, magnitude * images.shape[2] * sign, 0, 1, 0), "nearest")


def translate_y(images, magnitude, sign):
    return _affine(images, _matrix(images, 1, 0, 0, 0, 1, magnitude * images.shape[1] * sign), "nearest")


def rotate(images, magnitude, sign):
    """PIL's `rotate(magnitude)`: counter-clockwise by `magnitude` degrees about the centre (no sign)."""
    del sign
    height, width = images.shape[1:3]
    angle = magnitude * (math.pi / 180.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    cx, cy = width / 2.0, height / 2.0
    # PIL's inverse map: x_in = cos (x - cx) - sin (y - cy) + cx, y_in = sin (x - cx) + cos (y - cy) + cy.
    matrix = _matrix(images, cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy)
    return _affine(images, matrix, "nearest")


def color(images, magnitude, sign):
    """`ImageEnhance.Color(img).enhance(1 + magnitude * sign)`."""
    return enhance.color(images, enhancement_factor(magnitude, sign))


def contrast(images, magnitude, sign):
    """`ImageEnhance.Contrast(img).enhance(1 + magnitude * sign)`: blend with the rounded grey mean."""
    return enhance.contrast(images, enhancement_factor(magnitude, sign))


def brightness(images, magnitude, sign):
    """`ImageEnhance.Brightness(img).enhance(1 + magnitude * sign)`: blend with black."""
    return enhance.brightness(images, enhancement_factor(magnitude, sign))


def sharpness(images, magnitude, sign):
    """`ImageEnhance.Sharpness`: blend with PIL's SMOOTH filter (3x3, centre 5, /13; border unfiltered)."""
    x = images.permute(0, 3, 1, 2).float()
    channels = x.shape[1]
    kernel = torch.ones((3, 3), device=images.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(channels, 1, 3, 3)
    smooth = torch.floor(torch.nn.functional.conv2d(x, kernel, groups=channels) + 0.5)
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = torch.clamp(smooth, 0, 255)
    return enhance.blend(degenerate.permute(0, 2, 3, 1), images, enhancement_factor(magnitude, sign))


def posterize(images, magnitude, sign):
    """`ImageOps.posterize(img, bits)`: keeps the top `bits` bits of every value."""
    del sign
    bits = magnitude.to(torch.int64)
    mask = ((255 << (8 - bits)) & 255).to(torch.uint8).view(-1, 1, 1, 1)
    return images & mask


def solarize(images, magnitude, sign):
    """`ImageOps.solarize(img, threshold)`: values >= threshold are inverted."""
    del sign
    return torch.where(images.float() >= magnitude.view(-1, 1, 1, 1), 255 - images, images)


def autocontrast(images, magnitude=None, sign=None):
    """`ImageOps.autocontrast(img)`: each channel stretched from its [min, max] to [0, 255] (PIL's table)."""
    del magnitude, sign
    x = images.to(torch.float64)
    low = x.amin(dim=(1, 2), keepdim=True)
    high = x.amax(dim=(1, 2), keepdim=True)
    # a tensor numerator: `255.0 / tensor` multiplies by a reciprocal, one ulp off Python's division
    scale = torch.full_like(high, 255.0) / torch.clamp(high - low, min=1.0)
    stretched = torch.clamp(torch.floor(x * scale - low * scale), 0, 255)
    return torch.where(high > low, stretched, x).to(torch.uint8)


def equalize(images, magnitude=None, sign=None):
    """`ImageOps.equalize(img)`: PIL's per-channel histogram equalisation table."""
    del magnitude, sign
    batch, height, width, channels = images.shape
    values = images.permute(0, 3, 1, 2).reshape(batch * channels, -1).to(torch.int64)
    histogram = torch.zeros((batch * channels, 256), dtype=torch.int64, device=images.device)
    histogram.scatter_add_(1, values, torch.ones_like(values))
    total = histogram.sum(1, keepdim=True)
    last = torch.gather(histogram, 1, values.max(1, keepdim=True).values)  # count of the top value
    step = (total - last) // 255
    before = torch.cumsum(histogram, 1) - histogram  # pixels below each value
    table = torch.clamp((step // 2 + before) // torch.clamp(step, min=1), 0, 255)
    equalised = torch.gather(table, 1, values)
    out = torch.where(step > 0, equalised, values)  # step 0 (one or two levels): identity
    return out.reshape(batch, channels, height, width).permute(0, 2, 3, 1).to(torch.uint8)


def invert(images, magnitude=None, sign=None):
    del magnitude, sign
    return 255 - images


FUNCTIONS = {
    "shearX": shear_x, "shearY": shear_y, "translateX": translate_x, "translateY": translate_y,
    "rotate": rotate, "color": color, "posterize": posterize, "solarize": solarize,
    "contrast": contrast, "sharpness": sharpness, "brightness": brightness,
    "autocontrast": autocontrast, "equalize": equalize, "invert": invert,
}


def _policy_tables(policy, device):
    """`(probabilities, operations, magnitudes)`, each `(len(policy), 2)`, on `device` (magnitudes float64)."""
    probabilities = [[p1, p2] for p1, _, _, p2, _, _ in policy]
    operations = [[OPERATIONS.index(op1), OPERATIONS.index(op2)] for _, op1, _, _, op2, _ in policy]
    magnitudes = [[float(MAGNITUDES[op1][m1]), float(MAGNITUDES[op2][m2])] for _, op1, m1, _, op2, m2 in policy]
    return (
        torch.tensor(probabilities, dtype=torch.float32, device=device),
        torch.tensor(operations, dtype=torch.int64, device=device),
        torch.tensor(magnitudes, dtype=torch.float64, device=device),
    )


def apply_policy(images, sub_policies, applied, signs, policy=CIFAR10_POLICY):
    """Applies the given draws: image i runs sub-policy `sub_policies[i]`'s operations where `applied`.

    Args:
        images: uint8 `(B, H, W, 3)` tensor.
        sub_policies: int64 `(B,)` indices into `policy`.
        applied: bool `(B, 2)`: whether each of the two operations runs.
        signs: float `(B, 2)` of +1/-1, the sign of each operation's magnitude.
        policy: the sub-policies.

    Returns:
        A new uint8 tensor like `images`.
    """
    _, operations, magnitudes = _policy_tables(policy, images.device)
    out = images.clone()
    for stage in range(2):
        operation = operations[sub_policies, stage]
        magnitude = magnitudes[sub_policies, stage]
        for index, name in enumerate(OPERATIONS):
            chosen = torch.nonzero(applied[:, stage] & (operation == index)).squeeze(1)
            if chosen.numel():
                out[chosen] = FUNCTIONS[name](out[chosen], magnitude[chosen], signs[chosen, stage])
    return out


def autoaugment(images, generator, policy=CIFAR10_POLICY):
    """AutoAugment of a uint8 NHWC batch: one random sub-policy per image, PIL-equivalent operations.

    Draws, in this order: the sub-policy of each image (uniform), a uniform `(B, 2)` for whether each
    operation runs (`< p`), and a uniform `(B, 2)` for the signs (`< 0.5`: negative).

    Args:
        images: uint8 `(B, H, W, 3)` tensor on the device.
        generator: the `torch.Generator` of the draws.
        policy: the sub-policies, `(p1, op1, magnitude index 1, p2, op2, magnitude index 2)` each.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> augmented = autoaugment(random_crop_flip(pad(images, 4), (32, 32), generator), generator)
    """
    batch, device = images.shape[0], images.device
    probabilities, _, _ = _policy_tables(policy, device)
    sub_policies = torch.randint(0, len(policy), (batch,), device=device, generator=generator)
    applied = torch.rand((batch, 2), device=device, generator=generator) < probabilities[sub_policies]
    negative = torch.rand((batch, 2), device=device, generator=generator) < 0.5
    signs = torch.where(negative, -1.0, 1.0)
    return apply_policy(images, sub_policies, applied, signs, policy)
