"""CutMix on the device: random boxes, box masks and the area-corrected mixing weight.

Pure torch functions over a whole NHWC batch (uint8 or float); every draw takes an explicit
`torch.Generator`, and nothing loops over samples in Python. The box follows the reference code of
CutMix and CMO (`rand_bbox` in clovaai/CutMix-PyTorch and naver-ai/cmo): for a mixing weight
`lam`, the cut is `int(side * sqrt(1 - lam))` pixels along each side, centred on a uniform pixel,
spanning `centre - cut // 2 .. centre + cut // 2` and clipped to the image; `lam` is then reset to
the share of the image the box leaves to the background.
"""

import torch


def boxes(centre_y, centre_x, cut_h, cut_w, height, width):
    """Clipped boxes `(top, bottom, left, right)` (bottom/right exclusive) around the given centres.

    Args:
        centre_y: int64 tensor `(K,)` of centre rows in `[0, height)`.
        centre_x: int64 tensor `(K,)` of centre columns in `[0, width)`.
        cut_h: int64 tensor `(K,)` (or an int) of unclipped box heights.
        cut_w: int64 tensor `(K,)` (or an int) of unclipped box widths.
        height: image height.
        width: image width.

    Returns:
        Four int64 tensors `(K,)`.

    Example:
    >>> boxes(torch.tensor([0]), torch.tensor([5]), 4, 4, 8, 8)  # top rows clipped
    (tensor([0]), tensor([2]), tensor([3]), tensor([7]))
    """
    top = torch.clamp(centre_y - cut_h // 2, 0, height)
    bottom = torch.clamp(centre_y + cut_h // 2, 0, height)
    left = torch.clamp(centre_x - cut_w // 2, 0, width)
    right = torch.clamp(centre_x + cut_w // 2, 0, width)
    return top, bottom, left, right


def box_mask(top, bottom, left, right, height, width):
    """Boolean masks `(K, height, width, 1)`, True inside each box; built by broadcasting."""
    rows = torch.arange(height, device=top.device)[None, :, None]
    cols = torch.arange(width, device=top.device)[None, None, :]
    inside = (rows >= top[:, None, None]) & (rows < bottom[:, None, None])
    inside = inside & (cols >= left[:, None, None]) & (cols < right[:, None, None])
    return inside[..., None]


def random_boxes(cut_h, cut_w, height, width, generator):
    """Boxes of the given cut sizes with uniform centres: rows drawn first, then columns.

    Args:
        cut_h: int64 tensor `(K,)` of unclipped box heights.
        cut_w: int64 tensor `(K,)` of unclipped box widths.
        height: image height.
        width: image width.
        generator: the `torch.Generator` of the draws (on the tensors' device).

    Returns:
        `(top, bottom, left, right)`, four int64 tensors `(K,)`.

    Example:
    >>> top, bottom, left, right = random_boxes(torch.tensor([16]), torch.tensor([16]), 32, 32, torch.Generator())
    """
    size, device = cut_h.shape, cut_h.device
    centre_y = torch.randint(0, height, size, device=device, generator=generator)
    centre_x = torch.randint(0, width, size, device=device, generator=generator)
    return boxes(centre_y, centre_x, cut_h, cut_w, height, width)


def cutmix(background, foreground, lam, generator):
    """Pastes a random box of `foreground` into `background`; returns the images and corrected `lam`.

    `lam` is the drawn mixing weight (usually `Beta(alpha, alpha)`), one per image `(B,)` or one for
    the whole batch `(1,)` (then one box is shared by every image, as the reference code does). The
    cut is `int(side * sqrt(1 - lam))` per side, the centre uniform (`random_boxes`); the returned
    `lam` is `1 - box area / image area` after clipping: the background's share of the pixels, so a
    loss `lam * L(y_background) + (1 - lam) * L(y_foreground)` weighs each label by its area.

    Args:
        background: `(B, H, W, C)` images (uint8 or float) on the device.
        foreground: `(B, H, W, C)` images of the same dtype and device.
        lam: float tensor `(B,)` or `(1,)` of drawn mixing weights in [0, 1].
        generator: the `torch.Generator` of the box centres.

    Returns:
        `(mixed, lam)`: the mixed `(B, H, W, C)` batch and the float32 kept-area weights, shaped as `lam`.

    Example:
    >>> lam = torch.distributions.Beta(1.0, 1.0).sample((len(x),))
    >>> mixed, lam = cutmix(x, x[torch.randperm(len(x))], lam, torch.Generator().manual_seed(0))
    """
    height, width = background.shape[1:3]
    # float64, as the reference's NumPy: the floor of `side * sqrt(1 - lam)` matches it exactly.
    lam = torch.as_tensor(lam, device=background.device).to(torch.float64)
    cut_ratio = torch.sqrt(torch.clamp(1.0 - lam, min=0.0))
    cut_h = torch.floor(height * cut_ratio).long()
    cut_w = torch.floor(width * cut_ratio).long()
    top, bottom, left, right = random_boxes(cut_h, cut_w, height, width, generator)
    mask = box_mask(top, bottom, left, right, height, width)
    mixed = torch.where(mask, foreground, background)
    area = ((bottom - top) * (right - left)).to(torch.float32)
    return mixed, (1.0 - area / float(height * width)).to(torch.float32)
