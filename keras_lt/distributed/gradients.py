"""Gradient all-reduce for data-parallel training: the mean over the global batch, in buckets."""

import torch
import torch.distributed as dist

from keras_lt.distributed.context import is_distributed
from keras_lt.distributed.context import world_size

BUCKET_BYTES = 25 * 2**20  # DistributedDataParallel's default bucket size


def batch_weight(batch_size, device):
    """`W * n_r / sum_r n_r`: the factor of rank r's mean loss that makes the ranks' mean gradient the global batch's.

    With it, `synchronize_gradients` (the mean of the ranks' gradients) gives the gradient of the
    mean loss over the global batch also when the last batch of an epoch splits unevenly, and also
    through SyncBatchNorm, whose backward adds the other ranks' terms before the weighting. 1.0 in
    a single process (and for even shards). A loss that is a class-weighted mean (DRW, the
    class-balanced `weighted_mean`) is normalised by the rank's own weights: its gradient is that of
    the ranks' mean of those, as under `DistributedDataParallel`, not of the global batch's weighted mean.

    Args:
        batch_size: `n_r`, the images of this rank's batch.
        device: the device of the collective (the GPU under NCCL).

    Returns:
        A float.

    Example:
    >>> (loss * batch_weight(x.shape[0], x.device)).backward()
    """
    if not is_distributed():
        return 1.0
    total = torch.tensor([float(batch_size)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return world_size() * batch_size / float(total)


def synchronize_gradients(variables, bucket_bytes=BUCKET_BYTES):
    """Replaces each variable's `.grad` by the mean over the ranks, as `DistributedDataParallel` does.

    The gradients travel flattened in buckets of about `bucket_bytes` (DDP's size), all launched
    asynchronously, after the backward pass: the Keras step computes every gradient before it can
    hand them over, and a backward-overlapped reducer would need DDP's module wrapper, which the
    trainers' several forward passes per step do not fit. A variable without a gradient on every
    rank keeps none (the optimizer skips it, as in one process); one with a gradient on some ranks
    counts zeros for the others. Nothing happens in a single process.

    Args:
        variables: the Keras variables being trained (their torch values hold `.grad`).
        bucket_bytes: the size of one all-reduce.

    Example:
    >>> (loss * batch_weight(x.shape[0], x.device)).backward()
    >>> synchronize_gradients(trainer.trainable_weights)
    >>> optimizer.apply([v.value.grad for v in trainer.trainable_weights], trainer.trainable_weights)
    """
    if not is_distributed() or not variables:
        return
    params = [v.value for v in variables]
    present = torch.tensor([p.grad is not None for p in params], device=params[0].device, dtype=torch.float32)
    handle = dist.all_reduce(present, async_op=True)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    buckets = _buckets(grads, bucket_bytes)
    flats = []
    for bucket in buckets:
        flat = torch.cat([grads[i].reshape(-1) for i in bucket])
        flats.append((flat, dist.all_reduce(flat, async_op=True)))
    handle.wait()
    for bucket, (flat, work) in zip(buckets, flats):
        work.wait()
        flat /= world_size()
        for i, part in zip(bucket, flat.split([grads[i].numel() for i in bucket])):
            params[i].grad = part.view_as(params[i]) if present[i] > 0 else None


def _buckets(tensors, bucket_bytes):
    """Groups tensor indices (same dtype within a group) into runs of about `bucket_bytes`."""
    buckets, current, size, dtype = [], [], 0, None
    for i, tensor in enumerate(tensors):
        nbytes = tensor.numel() * tensor.element_size()
        if current and (size + nbytes > bucket_bytes or tensor.dtype != dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(i)
        size += nbytes
        dtype = tensor.dtype
    return buckets + [current] if current else buckets
