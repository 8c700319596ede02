"""Batch normalisation over the global batch of all ranks (SyncBatchNorm), differentiable."""

import torch
from torch.distributed.nn import functional as dist_nn

from keras_lt.distributed.context import is_distributed


def sync_batch_norm(x, running_mean, running_var, weight, bias, momentum=0.1, eps=1e-5):
    """Training-mode batch norm of `x` (channels on axis 1) with statistics over every rank's batch.

    Exactly `torch.nn.functional.batch_norm(training=True)` of the ranks' batches concatenated:
    two passes (the global mean, then the mean squared deviation from it), each a sum all-reduce
    that autograd differentiates (so the gradients are those of the global batch), and the running
    statistics updated with the unbiased global variance. A single process computes the same sums
    without communicating.

    Args:
        x: `(N, C, ...)` float tensor.
        running_mean: `(C,)` running mean, updated in place.
        running_var: `(C,)` running variance, updated in place.
        weight: `(C,)` scale, or None.
        bias: `(C,)` shift, or None.
        momentum: torch's momentum of the running statistics.
        eps: added to the variance.

    Returns:
        The normalised tensor, like `x`.

    Example:
    >>> y = sync_batch_norm(x, bn.moving_mean.value, bn.moving_variance.value, bn.gamma.value, bn.beta.value)
    """
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
    sums = _all_reduce(torch.cat([x.sum(dims), count]))
    total = sums[-1]
    mean = sums[:-1] / total
    centered = x - mean.view(shape)
    variance = _all_reduce((centered * centered).sum(dims)) / total
    y = centered * torch.rsqrt(variance + eps).view(shape)
    if weight is not None:
        y = y * weight.view(shape)
    if bias is not None:
        y = y + bias.view(shape)
    with torch.no_grad():
        running_mean.mul_(1.0 - momentum).add_(momentum * mean)
        running_var.mul_(1.0 - momentum).add_(momentum * variance * total / (total - 1).clamp(min=1))
    return y


def _all_reduce(tensor):
    return dist_nn.all_reduce(tensor) if is_distributed() else tensor


def convert_sync_batch_norm(network):
    """Makes every `keras_lt.layers.BatchNorm` of `network` synchronise its batch statistics across ranks.

    As `torch.nn.SyncBatchNorm.convert_sync_batchnorm`, but in place and not saved with the model
    (a run setting): a checkpoint trained with it loads as a plain model.

    Args:
        network: a keras-lt model.

    Returns:
        The number of layers switched.

    Example:
    >>> convert_sync_batch_norm(trainer.network)
    53
    """
    from keras_lt.layers import BatchNorm

    layers = [layer for layer in network._flatten_layers() if isinstance(layer, BatchNorm)]
    for layer in layers:
        layer.sync_statistics = True
    return len(layers)
