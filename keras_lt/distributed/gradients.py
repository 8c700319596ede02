"""Gradient all-reduce for data-parallel training: bucketed, weighted by each rank's batch size."""

import torch
import torch.distributed as dist

from keras_lt.distributed.context import is_distributed

BUCKET_BYTES = 25 * 2**20  # DistributedDataParallel's default bucket size


def synchronize_gradients(variables, batch_size, bucket_bytes=BUCKET_BYTES):
    """Replaces each variable's `.grad` by the batch-size-weighted mean of the ranks' gradients.

    Rank r's gradient `g_r` of its mean loss over `n_r` images becomes `sum_r n_r g_r / sum_r n_r`:
    the gradient of the mean loss over the global batch, also when the last batch of an epoch
    splits unevenly. The gradients travel flattened in buckets of about `bucket_bytes` (as
    `DistributedDataParallel`'s), all launched asynchronously, after the backward pass (the Keras
    step computes every gradient before it can hand them over; a backward-overlapped reducer would
    need DDP's module wrapper, which the trainers' several forward passes per step do not fit). A
    variable without a gradient on every rank keeps none (the optimizer skips it, as in one
    process); one with a gradient on some ranks counts zeros for the others. Nothing happens in a
    single process.

    Args:
        variables: the Keras variables being trained (their torch values hold `.grad`).
        batch_size: the images of this rank's batch, `n_r`.
        bucket_bytes: the size of one all-reduce.

    Example:
    >>> loss.backward()
    >>> synchronize_gradients(trainer.trainable_weights, x.shape[0])
    >>> optimizer.apply([v.value.grad for v in trainer.trainable_weights], trainer.trainable_weights)
    """
    if not is_distributed() or not variables:
        return
    params = [v.value for v in variables]
    device = params[0].device
    present = torch.tensor([p.grad is not None for p in params] + [0.0], device=device, dtype=torch.float64)
    present[-1] = float(batch_size)
    handle = dist.all_reduce(present, async_op=True)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    buckets = _buckets(grads, bucket_bytes)
    flats = []
    for bucket in buckets:
        flat = torch.cat([grads[i].reshape(-1) for i in bucket]) * float(batch_size)
        flats.append((flat, dist.all_reduce(flat, async_op=True)))
    handle.wait()
    total = float(present[-1])
    for bucket, (flat, work) in zip(buckets, flats):
        work.wait()
        flat /= total
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
