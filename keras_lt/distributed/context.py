"""Who this process is in a `torchrun` job, and the process group's start."""

import datetime
import os

import torch
import torch.distributed as dist

TIMEOUT_ENV = "KERAS_LT_DIST_TIMEOUT"  # seconds a collective may wait (rank 0 evaluating, saving)


def is_distributed():
    """Whether this process is one of several ranks of an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank():
    """This process's rank (0 outside a distributed run)."""
    return dist.get_rank() if is_distributed() else 0


def world_size():
    """The number of ranks (1 outside a distributed run)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main():
    """Whether this process writes: rank 0, or the only process."""
    return rank() == 0


def initialize():
    """Joins the process group `torchrun` describes (`WORLD_SIZE` > 1 in the environment); else nothing.

    NCCL when CUDA is available (each rank on GPU `LOCAL_RANK`), gloo otherwise. The collectives'
    timeout is `KERAS_LT_DIST_TIMEOUT` seconds (default 7200: rank 0 evaluating a large test set
    keeps the others waiting). Calling it again is a no-op.

    Returns:
        Whether the process is now part of a multi-process group.

    Example:
    >>> initialize()  # under `torchrun --nproc_per_node 2 ...`
    True
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "7200")))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    return is_distributed()
