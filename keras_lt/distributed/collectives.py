"""The few collectives keras-lt needs, as no-ops in a single process."""

import torch
import torch.distributed as dist

from keras_lt.distributed.context import is_distributed
from keras_lt.distributed.context import world_size


def all_reduce_sum(tensor):
    """The sum of `tensor` over all ranks (a new tensor; `tensor` itself in a single process).

    Example:
    >>> counts = all_reduce_sum(confusion_counts(y, predictions, num_classes))
    """
    if not is_distributed():
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total


def all_gather(tensor):
    """The rank-order concatenation along axis 0 of every rank's `tensor` (lengths may differ).

    Shorter tensors are padded to the longest for the collective and cut back after it.

    Example:
    >>> features, assignment = all_gather(features), all_gather(assignment)
    """
    if not is_distributed():
        return tensor
    tensor = tensor.detach().contiguous()
    lengths = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(lengths) for _ in range(world_size())]
    dist.all_gather(sizes, lengths)
    sizes = [int(s) for s in sizes]
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def broadcast(tensor, source=0):
    """Rank `source`'s `tensor` on every rank (a new tensor; `tensor` itself in a single process).

    Every rank passes a tensor of the same shape and dtype; only the source's values count.

    Example:
    >>> labels = broadcast(labels)  # every rank fine-tunes on rank 0's labels
    """
    if not is_distributed():
        return tensor
    received = tensor.detach().clone().contiguous()
    dist.broadcast(received, source)
    return received


def broadcast_object(value, source=0):
    """Rank `source`'s picklable `value` on every rank (`value` itself in a single process).

    Example:
    >>> restored = broadcast_object(is_main() and reload_saved_set())  # every rank follows rank 0
    """
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, source)
    return box[0]


def broadcast_variables(variables, source=0):
    """Copies rank `source`'s values of Keras `variables` to every rank, in one flat broadcast.

    Example:
    >>> broadcast_variables(network.non_trainable_variables)  # BatchNorm buffers follow rank 0
    """
    if not is_distributed() or not variables:
        return
    by_dtype = {}
    for variable in variables:
        by_dtype.setdefault(variable.value.dtype, []).append(variable.value.data)
    for values in by_dtype.values():
        flat = torch.cat([value.reshape(-1) for value in values])
        dist.broadcast(flat, source)
        torch._foreach_copy_(values, [part.view_as(v) for part, v in zip(flat.split([v.numel() for v in values]), values)])


def barrier():
    """Waits until every rank gets here (nothing in a single process)."""
    if is_distributed():
        dist.barrier()
