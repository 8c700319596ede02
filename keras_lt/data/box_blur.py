"""PIL's `ImageFilter.GaussianBlur` on the device: three extended box blurs per axis, a radius per image.

PIL (`BoxBlur.c`) approximates a Gaussian of standard deviation `sigma` by `passes = 3` box blurs
of a fractional radius `r + a` (Gwosdek et al., `_gaussian_blur_radius`, float32): each output pixel
is `(ww * sum of the 2r + 1 nearest pixels + fw * (the two next ones) + 2**23) >> 24`, edges
repeated, with `ww = (uint32)(2**24 / (2 (r + a) + 1))` and `fw = (2**24 - (2r + 1) ww) / 2`; every
pass rounds to uint8, all passes run along the rows, then all along the columns. Here each pass is
one integer convolution of the whole batch with a kernel per image, so the result is bit-identical
to PIL's.
"""

import torch

PASSES = 3
ONE = 1 << 24  # PIL's fixed point


def box_radius(sigma, passes=PASSES):
    """PIL's `_gaussian_blur_radius` (its float32 / float64 mix): the extended box radius of each sigma.

    Args:
        sigma: `(K,)` standard deviations (PIL takes them as C floats).

    Returns:
        float32 `(K,)` radii.
    """
    sigma = torch.as_tensor(sigma).float()
    sigma2 = sigma * sigma / passes
    length = torch.sqrt(12.0 * sigma2.double() + 1.0).float()
    whole = torch.floor((length.double() - 1.0) / 2.0).float()
    fraction = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2)
    fraction = fraction / (6 * (sigma2 - (whole + 1) * (whole + 1)))
    return whole + fraction


def _kernels(radius):
    """`(K, 2 R + 3)` int64 fixed-point kernels of the radii (R the largest integer part), centred."""
    whole = radius.to(torch.int64)  # C's (int) of a non-negative float
    ww = torch.trunc(torch.full_like(radius, float(ONE)) / (radius * 2 + 1)).to(torch.int64)  # float32 division
    fw = (ONE - (whole * 2 + 1) * ww) // 2
    widest = int(whole.max()) if len(whole) else 0
    offsets = torch.arange(-widest - 1, widest + 2, device=radius.device).abs()[None, :]
    return torch.where(offsets <= whole[:, None], ww[:, None], torch.where(offsets == whole[:, None] + 1, fw[:, None], 0))


def _blur_rows(x, kernels):
    """One PIL box-blur pass along the last axis of int64 `(K, C, H, W)`, edges repeated."""
    half = (kernels.shape[1] - 1) // 2
    padded = torch.cat([x[..., :1].expand(*x.shape[:-1], half), x, x[..., -1:].expand(*x.shape[:-1], half)], -1)
    width = x.shape[-1]
    total = sum(kernels[:, k, None, None, None] * padded[..., k : k + width] for k in range(kernels.shape[1]))
    return (total + (ONE >> 1)) >> 24


def gaussian_blur(images, sigma):
    """`img.filter(ImageFilter.GaussianBlur(radius=sigma))` of each image, bit-identical to PIL.

    Args:
        images: uint8 `(K, H, W, C)` tensor.
        sigma: float `(K,)` standard deviations (> 0), one per image.

    Returns:
        uint8 `(K, H, W, C)`.

    Example:
    >>> blurred = gaussian_blur(images, torch.full((len(images),), 1.5))
    """
    kernels = _kernels(box_radius(sigma).to(images.device))
    x = images.permute(0, 3, 1, 2).to(torch.int64)
    for _ in range(PASSES):
        x = _blur_rows(x, kernels)  # along the rows (x), all passes first
    x = x.transpose(2, 3)
    for _ in range(PASSES):
        x = _blur_rows(x, kernels)  # then along the columns
    return x.transpose(2, 3).permute(0, 2, 3, 1).to(torch.uint8)


def random_gaussian_blur(images, generator, sigma=(0.1, 2.0), probability=0.5):
    """`RandomApply([GaussianBlur(sigma)], p=probability)` of MoCo's loader (CMO's `moco_loader.py`), per image.

    Each image is blurred with probability `probability` with `sigma ~ U(sigma)`. Draws, in this
    order: `(K,)` uniforms for whether, then `(K,)` float64 uniforms for the sigmas.

    Args:
        images: uint8 `(K, H, W, C)` tensor.
        generator: the `torch.Generator` of the draws.
        sigma: range of the standard deviation.
        probability: chance that an image is blurred.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> out = random_gaussian_blur(images, torch.Generator().manual_seed(0))
    """
    batch, device = images.shape[0], images.device
    blurred = torch.rand(batch, device=device, generator=generator) <= probability  # `p < rand`: skipped
    sigmas = sigma[0] + (sigma[1] - sigma[0]) * torch.rand(batch, device=device, generator=generator, dtype=torch.float64)
    chosen = torch.nonzero(blurred).squeeze(1)
    out = images.clone()
    if chosen.numel():
        out[chosen] = gaussian_blur(images[chosen], sigmas[chosen])
    return out
