"""Replacing a finished run in its directory (`--overwrite`) without trading it for a run that fails."""

import contextlib
import os
import shutil
import tempfile

from keras_lt.callbacks import TrainingDiverged
from keras_lt.run_directory import has_finished_epoch


@contextlib.contextmanager
def replacing(output, keeps_stopped=has_finished_epoch):
    """Moves the finished run in `output` aside while a new one writes there; deletes it once the new one is kept.

    `output` holds that run's files alone (`keras_lt.run_directory.check_only_ours`). A new run
    that completes is kept. One that stops (a bad recipe, unreadable data, Ctrl-C, a crash) is kept
    where `keeps_stopped(output)` says so, e.g. a training run with a finished epoch that `--resume`
    continues; otherwise, and always when it diverged (its epochs lead nowhere a resume could go),
    it is removed and the finished run moved back.

    Args:
        output: the directory of the finished run (a training run or a decoupling).
        keeps_stopped: whether a new run stopped in `output` is kept there instead of the finished one.

    Example:
    >>> with replacing("runs/ce"):
    ...     train(recipe, "runs/ce")
    """
    parent = os.path.dirname(os.path.abspath(output))
    aside = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output))}.replaced-", dir=parent)
    os.rename(output, os.path.join(aside, "run"))

    def put_back():
        shutil.rmtree(output, ignore_errors=True)
        os.rename(os.path.join(aside, "run"), output)
        os.rmdir(aside)

    try:
        yield
    except TrainingDiverged as error:
        put_back()
        raise TrainingDiverged(f"{error.reason}; {output} keeps the finished run it held.") from None
    except BaseException:
        if os.path.exists(output) and keeps_stopped(output):
            shutil.rmtree(aside)
        else:
            put_back()
        raise
    shutil.rmtree(aside)
