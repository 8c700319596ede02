"""torchvision's `ColorJitter` and `RandomGrayscale` of PIL images, on the device, vectorised over the batch.

torchvision applies them to a PIL image with PIL's arithmetic: brightness, contrast and saturation
are `ImageEnhance.Brightness / Contrast / Color` (`keras_lt.data.enhance`), hue is a round trip
through PIL's HSV mode with the hue byte shifted (`adjust_hue`), and grayscale is `convert("L")`
copied to three channels. All of it is bit-identical to PIL here, given the same factors.
"""

import torch

from keras_lt.data import enhance

JITTER_OPERATIONS = ("brightness", "contrast", "saturation", "hue")


def _trunc_to_uint8(x):
    return torch.clamp(torch.trunc(x), 0, 255).to(torch.int64)  # PIL's CLIP8((int) x)


def _round_half_up(x):
    """C's `round` for non-negative values: halves away from zero."""
    floor = torch.floor(x)
    return torch.where(x - floor >= 0.5, floor + 1.0, floor)


def rgb_to_hsv(images):
    """PIL's `convert("HSV")` (`rgb2hsv_row` in Convert.c, its float32 / float64 mix): int64 `(K, H, W, 3)`."""
    x = images.to(torch.int64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    maxc = torch.maximum(r, torch.maximum(g, b))
    minc = torch.minimum(r, torch.minimum(g, b))
    grey = maxc == minc
    cr = torch.where(grey, 1, maxc - minc).float()  # float; the grey pixels' values are discarded
    s = cr / torch.where(maxc == 0, 1, maxc).float()
    rc, gc, bc = ((maxc - c).float() / cr for c in (r, g, b))
    h = torch.where(
        r == maxc, (bc - gc).double(),
        torch.where(g == maxc, 2.0 + rc.double() - bc.double(), 4.0 + gc.double() - rc.double()),
    ).float()  # float32 `h`; the 2.0 / 4.0 branches are computed in double
    h = torch.fmod(h.double() / 6.0 + 1.0, 1.0).float()
    hue = torch.where(grey, 0, _trunc_to_uint8(h.double() * 255.0))
    saturation = torch.where(grey, 0, _trunc_to_uint8(s.double() * 255.0))
    return torch.stack([hue, saturation, maxc], dim=-1)


def hsv_to_rgb(hsv):
    """PIL's `Image.merge("HSV", ...).convert("RGB")` (`hsv2rgb` in Convert.c): uint8 `(K, H, W, 3)`."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = torch.floor(h.float().double() * 6.0 / 255.0)
    f = (h.float().double() * 6.0 / 255.0 - sector.float().double()).float()
    fs = (s.float().double() / 255.0).float()
    vd = v.double()
    p = _round_half_up(vd * (1.0 - fs.double()))
    q = _round_half_up(vd * (1.0 - (fs * f).double()))  # fs * f: a float product
    t = _round_half_up(vd * (1.0 - fs.double() * (1.0 - f.double())))
    p, q, t = (torch.clamp(c, 0, 255).to(torch.int64) for c in (p, q, t))
    sector = sector.to(torch.int64) % 6
    choices = torch.stack([  # (r, g, b) of each sector, as `switch (i % 6)`
        torch.stack([v, t, p], -1), torch.stack([q, v, p], -1), torch.stack([p, v, t], -1),
        torch.stack([p, q, v], -1), torch.stack([t, p, v], -1), torch.stack([v, p, q], -1),
    ], dim=-2)  # (K, H, W, 6, 3)
    rgb = torch.gather(choices, -2, sector[..., None, None].expand(*sector.shape, 1, 3)).squeeze(-2)
    rgb = torch.where((s == 0)[..., None], v[..., None].expand_as(rgb), rgb)
    return rgb.to(torch.uint8)


def adjust_hue(images, hue_factor):
    """torchvision's `adjust_hue` of PIL images: the HSV hue byte shifted by `uint8(hue_factor * 255)`, wrapping.

    Args:
        images: uint8 RGB `(K, H, W, 3)`.
        hue_factor: float `(K,)` in [-0.5, 0.5].

    Returns:
        uint8 `(K, H, W, 3)`.

    Example:
    >>> shifted = adjust_hue(images, torch.full((len(images),), 0.05))
    """
    hsv = rgb_to_hsv(images)
    # NumPy's `np.array(hue_factor * 255).astype(np.uint8)`: truncated towards 0, then modulo 256.
    shift = torch.trunc(hue_factor.double() * 255.0).to(torch.int64) % 256
    hue = (hsv[..., 0] + shift.view(-1, 1, 1)) % 256
    return hsv_to_rgb(torch.stack([hue, hsv[..., 1], hsv[..., 2]], dim=-1))


def _apply(images, operation, factor):
    if operation == "hue":
        return adjust_hue(images, factor)
    adjust = {"brightness": enhance.brightness, "contrast": enhance.contrast, "saturation": enhance.color}[operation]
    return adjust(images, factor.float())


def color_jitter(images, generator, strength=(0.4, 0.4, 0.4, 0.1), probability=0.8):
    """`RandomApply([ColorJitter(*strength)], p=probability)` of torchvision, per image.

    Each image is jittered with probability `probability`; a jittered image draws brightness,
    contrast and saturation factors `U(1 - s, 1 + s)` and a hue factor `U(-s_h, s_h)`, and applies
    the four in a random order of its own. Draws, in this order: `(K,)` uniforms for whether, a
    `(K, 4)` uniform whose argsort is the order, and `(K, 4)` uniforms for the factors.

    Args:
        images: uint8 RGB `(K, H, W, 3)`.
        generator: the `torch.Generator` of the draws.
        strength: `(brightness, contrast, saturation, hue)` as torchvision's arguments.
        probability: chance that an image is jittered.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> jittered = color_jitter(images, torch.Generator().manual_seed(0))
    """
    batch, device = images.shape[0], images.device
    jittered = torch.rand(batch, device=device, generator=generator) <= probability  # `p < rand`: skipped
    order = torch.argsort(torch.rand((batch, 4), device=device, generator=generator), dim=1)
    u = torch.rand((batch, 4), device=device, generator=generator)
    bounds = torch.tensor([[1 - s, 1 + s] for s in strength[:3]] + [[-strength[3], strength[3]]], device=device)
    factors = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * u  # float32, as `uniform_`
    out = images.clone()
    for position in range(4):
        for index, operation in enumerate(JITTER_OPERATIONS):
            if not strength[index]:  # torchvision skips a part of strength 0 (hue 0 would still round-trip HSV)
                continue
            chosen = torch.nonzero(jittered & (order[:, position] == index)).squeeze(1)
            if chosen.numel():
                out[chosen] = _apply(out[chosen], operation, factors[chosen, index])
    return out


def random_grayscale(images, generator, probability=0.2):
    """torchvision's `RandomGrayscale(p)` of RGB PIL images: `convert("L")` copied to 3 channels, per image.

    Args:
        images: uint8 RGB `(K, H, W, 3)`.
        generator: the `torch.Generator` of the `(K,)` draw (`< probability`: grey).
        probability: chance that an image turns grey.

    Returns:
        A new uint8 tensor like `images`.

    Example:
    >>> out = random_grayscale(images, torch.Generator().manual_seed(0))
    """
    chosen = torch.rand(images.shape[0], device=images.device, generator=generator) < probability
    grey = enhance.grey(images).to(torch.uint8).expand_as(images)
    return torch.where(chosen.view(-1, 1, 1, 1), grey, images)
