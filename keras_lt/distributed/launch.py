"""`keras-lt train --devices N`: the same command under `torchrun`, one process per device."""

import subprocess
import sys


def launch(processes, argv):
    """Runs `python -m torch.distributed.run --standalone --nproc_per_node N -m keras_lt.cli.main ARGV`.

    `--standalone` rendezvouses on this machine at a free port. torchrun stops every rank when one
    fails, and its exit status is the run's.

    Args:
        processes: ranks to start (one per GPU; any number on CPU).
        argv: the `keras-lt` arguments each rank gets (without `--devices`).

    Returns:
        torchrun's exit status.

    Example:
    >>> launch(2, ["train", "--recipe", "ce-resnext50-imagenetlt", "--data-dir", "data"])
    """
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(processes)}",
        "-m", "keras_lt.cli.main", *argv,
    ]
    return subprocess.call(command)
