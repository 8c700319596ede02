"""torchvision's `RandomResizedCrop` of PIL images on the device: the box draw and PIL's bilinear resize.

Pure torch over a whole uint8 NHWC batch, no per-image Python. `resized_crop` is bit-identical to
`img.crop(box).resize(size, Image.BILINEAR)` (PIL's `Resample.c`: float64 filter coefficients
normalised per output pixel, 22-bit fixed point, a horizontal then a vertical pass, each rounded to
uint8) for crops no larger than the output, the only case `random_resized_crop` makes.
"""

import math

import torch

PRECISION_BITS = 22  # PIL's Resample.c: 32 - 8 - 2
TAPS = 3  # bilinear support 1 when enlarging: ceil(1) * 2 + 1 coefficients per output pixel


def _bilinear_coefficients(in_size, out_size):
    """PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` (BILINEAR, enlarging) for `(K,)` input lengths.

    Returns:
        `(first, weights)`, int64 `(K, out_size, TAPS)` each: the input index of each tap (clipped to
        the input, where its weight is 0) and its fixed-point weight.
    """
    size = in_size.to(torch.float64)[:, None]  # (K, 1)
    scale = size / out_size  # <= 1: the filter scale stays 1, the support 1
    center = (torch.arange(out_size, dtype=torch.float64, device=in_size.device) + 0.5) * scale
    xmin = torch.clamp(torch.trunc(center - 1.0 + 0.5), min=0.0)  # C's (int) truncates
    xmax = torch.minimum(torch.trunc(center + 1.0 + 0.5), size) - xmin
    taps = torch.arange(TAPS, dtype=torch.float64, device=in_size.device)
    distance = torch.abs(taps + xmin[..., None] - center[..., None] + 0.5)
    weights = torch.where((taps < xmax[..., None]) & (distance < 1.0), 1.0 - distance, 0.0)
    total = (weights[..., 0] + weights[..., 1]) + weights[..., 2]  # C's running sum, in order
    weights = torch.where(total[..., None] != 0.0, weights / total[..., None], weights)
    fixed = torch.trunc(0.5 + weights * (1 << PRECISION_BITS)).to(torch.int64)
    index = torch.minimum(xmin[..., None] + taps, size[..., None] - 1).to(torch.int64)
    return index, fixed


def _clip8(accumulated):
    """PIL's `clip8`: the fixed-point sum (its half-unit rounding already added) back to uint8 values."""
    return torch.clamp(accumulated >> PRECISION_BITS, 0, 255)


def resized_crop(images, top, left, height, width, size):
    """PIL's `img.crop((left, top, left + width, top + height)).resize(size, BILINEAR)` per image.

    Args:
        images: uint8 `(K, H, W, C)` tensor.
        top: int64 `(K,)` first rows of the boxes.
        left: int64 `(K,)` first columns.
        height: int64 `(K,)` box heights, at most `size[0]`.
        width: int64 `(K,)` box widths, at most `size[1]`.
        size: `(out_height, out_width)`.

    Returns:
        uint8 `(K, out_height, out_width, C)`.

    Example:
    >>> out = resized_crop(images, top, left, height, width, (32, 32))
    """
    out_h, out_w = size
    batch = torch.arange(images.shape[0], device=images.device)
    half = 1 << (PRECISION_BITS - 1)
    columns, column_weights = _bilinear_coefficients(width, out_w)  # (K, out_w, TAPS)
    x = images.to(torch.int64)[batch[:, None, None], :, (left[:, None, None] + columns)]  # (K, out_w, TAPS, H, C)
    x = _clip8((x * column_weights[..., None, None]).sum(2) + half)  # (K, out_w, H, C)
    rows, row_weights = _bilinear_coefficients(height, out_h)  # (K, out_h, TAPS)
    y = x[batch[:, None, None], :, (top[:, None, None] + rows)]  # (K, out_h, TAPS, out_w, C)
    return _clip8((y * row_weights[..., None, None]).sum(2) + half).to(torch.uint8)


def random_resized_crop_flip(images, generator, scale=(0.2, 1.0)):
    """torchvision's `RandomResizedCrop` (to the images' own size, PIL bilinear) + horizontal flip, on the device.

    Draws, in this order: the boxes (`random_resized_boxes`), then the flips. PaCo's SimCLR branch
    crops with scale (0.2, 1), the streamed training crops with torchvision's (0.08, 1).

    Args:
        images: uint8 `(B, H, W, C)` tensor.
        generator: the `torch.Generator` of the draws.
        scale: range of the box's share of the image area.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> crops = random_resized_crop_flip(images, torch.Generator().manual_seed(0))
    """
    batch, height, width = images.shape[:3]
    top, left, h, w = random_resized_boxes(batch, height, width, generator, scale=scale)
    images = resized_crop(images, top, left, h, w, (height, width))
    flipped = torch.rand(batch, device=images.device, generator=generator) < 0.5
    return torch.where(flipped.view(-1, 1, 1, 1), images.flip(2), images)


def random_resized_boxes(batch, height, width, generator, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
    """torchvision's `RandomResizedCrop.get_params` for `batch` images of `height x width`, vectorised.

    Each image tries `attempts` (area share ~ U(scale), log aspect ratio ~ U(log ratio)) boxes,
    `w = round(sqrt(area * aspect))`, `h = round(sqrt(area / aspect))`, and keeps the first that fits
    (uniform position); none fitting, the central crop of torchvision's fallback. Draws, in this
    order: `(batch, attempts)` uniforms for the areas, the same for the ratios, then `(batch,)` for
    the rows and the columns.

    Args:
        batch: number of images.
        height: image height.
        width: image width.
        generator: the `torch.Generator` of the draws (its device is the boxes' device).
        scale: range of the box's share of the image area.
        ratio: range of the box's aspect ratio (width / height).
        attempts: boxes tried per image before the fallback.

    Returns:
        `(top, left, h, w)`, int64 `(batch,)` each.

    Example:
    >>> top, left, h, w = random_resized_boxes(128, 32, 32, torch.Generator().manual_seed(0))
    """
    device = generator.device
    shares = scale[0] + (scale[1] - scale[0]) * torch.rand((batch, attempts), device=device, generator=generator)
    low, high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(low + (high - low) * torch.rand((batch, attempts), device=device, generator=generator))
    area = height * width * shares.double()
    w = torch.round(torch.sqrt(area * aspect.double())).long()
    h = torch.round(torch.sqrt(area / aspect.double())).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = torch.argmax(fits.int(), dim=1, keepdim=True)  # the first fitting attempt (0 if none)
    fallback_h, fallback_w = _central_box(height, width, ratio)
    found = fits.any(dim=1)
    h = torch.where(found, torch.gather(h, 1, first)[:, 0], fallback_h)
    w = torch.where(found, torch.gather(w, 1, first)[:, 0], fallback_w)
    top = torch.floor(torch.rand(batch, device=device, generator=generator, dtype=torch.float64) * (height - h + 1))
    left = torch.floor(torch.rand(batch, device=device, generator=generator, dtype=torch.float64) * (width - w + 1))
    fallback = ~found
    top = torch.where(fallback, (height - h) // 2, top.long())
    left = torch.where(fallback, (width - w) // 2, left.long())
    return top, left, h, w


def _central_box(height, width, ratio):
    """torchvision's fallback box size: the whole image, cut to the ratio bounds."""
    in_ratio = width / height
    if in_ratio < min(ratio):
        return int(round(width / min(ratio))), width
    if in_ratio > max(ratio):
        return height, int(round(height * max(ratio)))
    return height, width
