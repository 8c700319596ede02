"""PIL's `ImageEnhance` and `convert("L")` on uint8 NHWC batches on the device, bit-identical to PIL."""

import torch


def grey(images):
    """PIL's `convert("L")` of uint8 RGB NHWC images: `(K, H, W, 1)` int64 (ITU-R 601-2, fixed point)."""
    x = images.to(torch.int64)
    return (x[..., 0:1] * 19595 + x[..., 1:2] * 38470 + x[..., 2:3] * 7471 + 0x8000) >> 16


def blend(degenerate, images, factor):
    """PIL's `Image.blend(degenerate, image, factor)`: float32 arithmetic, truncated to uint8 after clipping.

    Args:
        degenerate: float32 tensor broadcastable to `images` (integer values).
        images: uint8 `(K, H, W, C)` tensor.
        factor: float32 `(K,)` tensor, one factor per image (PIL's C `float` alpha).

    Returns:
        uint8 `(K, H, W, C)`.
    """
    out = degenerate + factor.view(-1, 1, 1, 1) * (images.float() - degenerate)
    return torch.clamp(out, 0, 255).to(torch.uint8)  # clamped first: the cast truncates towards 0


def brightness(images, factor):
    """`ImageEnhance.Brightness(img).enhance(factor)`: blend with black."""
    return blend(torch.zeros((), device=images.device), images, factor)


def contrast(images, factor):
    """`ImageEnhance.Contrast(img).enhance(factor)`: blend with the grey image's mean, rounded."""
    mean = torch.floor(grey(images).float().mean(dim=(1, 2, 3), keepdim=True) + 0.5)
    return blend(mean, images, factor)


def color(images, factor):
    """`ImageEnhance.Color(img).enhance(factor)` (torchvision's saturation): blend with the grey image."""
    return blend(grey(images).float(), images, factor)
