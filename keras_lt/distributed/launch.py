"""`keras-lt train --devices N`: the same command under `torchrun`, one process per device."""

import logging
import os
import tempfile

from keras_lt.errors import RANK_ERRORS_ENV

SIGNAL_EXIT = 128  # a shell's exit status for a process ended by signal s is 128 + s


def launch(processes, argv):
    """Runs `torchrun --standalone --nproc_per_node N -m keras_lt.cli.main ARGV` in this process.

    torchrun's own entry point (`torch.distributed.run`) is called here rather than as a command,
    so that a failing rank ends the run with the rank's own message alone, once: each rank leaves
    its one-line error in a file of the directory `RANK_ERRORS_ENV` names
    (`keras_lt.cli.errors.CommandError`) instead of printing it, and the distinct lines are
    returned (bad data stops every rank with the same line), while torchrun's report of the
    failure (a traceback and a table of its own) is left out. `--standalone` rendezvouses on this
    machine at a free port; torchrun stops every rank when one fails.

    Args:
        processes: ranks to start (one per GPU; any number on CPU).
        argv: the `keras-lt` arguments each rank gets (without `--devices`).

    Returns:
        `(status, errors)`: the exit status (0, the first failing rank's, 1 when a rank was killed by
        a signal, or 128 + the signal that stopped this process) and the error lines: a killed
        rank's (it could print nothing: one line naming it), then the ranks' distinct lines in rank
        order, each prefixed with its ranks where they differ (`rank_errors`).

    Example:
    >>> launch(2, ["train", "--recipe", "ce-resnext50-imagenetlt", "--data-dir", "data"])
    (0, [])
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    for name, logger in list(logging.Logger.manager.loggerDict.items()):  # each sets its own level as it is made
        if name.startswith("torch.distributed.elastic") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.CRITICAL)  # its reports of a failure or a signal: the ranks say why they stopped
    args = torchrun.parse_args(
        ["--standalone", f"--nproc_per_node={int(processes)}", "-m", "keras_lt.cli.main", *argv]
    )
    killed = None
    with tempfile.TemporaryDirectory(prefix="keras-lt-ranks-") as errors:
        os.environ[RANK_ERRORS_ENV] = errors  # the ranks inherit it
        try:
            torchrun.run(args)
            status = 0
        except SignalException as stop:  # Ctrl-C or a kill of this process: the ranks got it too
            status = SIGNAL_EXIT + int(stop.sigval)
        except ChildFailedError as error:
            rank, failure = error.get_first_failure()
            status = failure.exitcode
            if failure.exitcode < 0:  # it could say nothing: said here, before what the others said as they stopped
                status, killed = 1, (
                    f"rank {rank} of the run was killed by {failure.signal_name()} (out of memory?); every rank stopped."
                )
        finally:
            del os.environ[RANK_ERRORS_ENV]
        return status, [*([killed] if killed else []), *rank_errors(errors)]


def rank_errors(directory):
    """The distinct error lines the ranks left in `directory` (a file per rank), in rank order.

    Example:
    >>> rank_errors(directory)  # ranks 0 and 1 left "no images in data", rank 2 "disk full"
    ['ranks 0, 1: no images in data', 'rank 2: disk full']
    """
    ranks = {}  # line -> the ranks that left it
    for name in sorted(os.listdir(directory), key=int):
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            ranks.setdefault(f.read().strip(), []).append(name)
    if len(ranks) <= 1:
        return list(ranks)
    return [f"rank{'s' * (len(names) > 1)} {', '.join(names)}: {line}" for line, names in ranks.items()]
