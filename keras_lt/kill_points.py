"""Named points of the crash-safe writes where a test can kill the process (fault injection)."""

import collections
import os
import signal

KILL_AT = "KERAS_LT_KILL_AT"
_reached = collections.Counter()


def kill_point(name):
    """SIGKILLs this process at the `n`-th pass through point `name` when `KERAS_LT_KILL_AT` is `name[:n]`.

    Crash-safety tests set `KERAS_LT_KILL_AT` in a child training process to stop it at an exact
    point of a backup or checkpoint write (no timing involved), then resume the run. Without the
    variable (always, outside such tests) this does nothing.

    Args:
        name: the point, e.g. "backup.weights" (see the callers: `keras_lt.callbacks.Backup`,
            `keras_lt.training`).

    Example:
    >>> kill_point("backup.renamed")  # KERAS_LT_KILL_AT=backup.renamed:2 kills at the second backup
    """
    wanted = os.environ.get(KILL_AT)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
