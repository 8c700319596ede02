"""Targeted L-inf projected gradient descent (Madry et al., 2018) on 0..255 images, on the device."""

import torch


def targeted_pgd(model, images, targets, eps=0.6, steps=3, step_size=1 / 255):
    """Moves `images` towards class `targets` of `model`: `steps` signed-gradient steps, projected.

    Every step descends the cross-entropy of the targets, `x <- x - step * sign(grad CE(model(x), t))`,
    then projects onto the L-inf ball of radius `eps` around the input and onto the valid pixel range.
    `eps` and `step_size` are in pixel space [0, 1], as the papers give them; our images are 0..255
    (the network normalises inside), so they scale by 255: a step of 1/255 is one grey level, and
    adversarial images of uint8 inputs stay integer and are returned as uint8 exactly. No random
    start (AFR's "fine-tuned PGD" names none). `model` runs as given (pass an inference-mode
    callable, so BatchNorm statistics stay untouched); its parameters get no gradient.

    Args:
        model: a callable mapping float images `(B, H, W, C)` in 0..255 to logits.
        images: uint8 or float `(B, H, W, C)` images in 0..255.
        targets: int64 `(B,)` target classes of `model`.
        eps: radius of the L-inf ball, pixel space [0, 1].
        steps: number of steps.
        step_size: size of each step, pixel space [0, 1].

    Returns:
        The adversarial images, dtype and shape of `images`.

    Example:
    >>> attack = lambda x: embedder(x, training=False) @ kernel + bias
    >>> adversarial = targeted_pgd(attack, images, 2 * labels + 1)
    """
    start = images.detach().float()
    radius, step = 255.0 * eps, 255.0 * step_size
    x = start.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(model(x), targets)
            (gradient,) = torch.autograd.grad(loss, [x])
        x = x.detach() - step * torch.sign(gradient)
        x = torch.clamp(torch.minimum(torch.maximum(x, start - radius), start + radius), 0.0, 255.0)
    if images.dtype == torch.uint8:
        return torch.round(x).to(torch.uint8)
    return x.to(images.dtype)
