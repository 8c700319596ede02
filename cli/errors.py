"""`one_line_errors`: bad input ends a command with one `Error: ...` line, never a traceback."""

import functools
import os

import click

from keras_lt.errors import RANK_ERRORS_ENV
from keras_lt.errors import KerasLTError


class CommandError(click.ClickException):
    """A command's one-line error: `Error: ...` on stderr, exit status 1.

    A rank of `keras-lt train --devices N` leaves its line to the launcher instead
    (`keras_lt.distributed.launch`), which prints each distinct line once: bad data stops every
    rank with the same one.

    Example:
    >>> raise CommandError("no images in my_photos/train; ...")
    """

    def show(self, file=None):
        directory = os.environ.get(RANK_ERRORS_ENV)
        if directory is None or "RANK" not in os.environ:
            return super().show(file)
        with open(os.path.join(directory, os.environ["RANK"]), "w", encoding="utf-8", errors="replace") as f:
            f.write(self.format_message())


def one_line_errors(command):
    """Prints a `KerasLTError` (bad input) as one `Error: ...` line on stderr (`CommandError`) and exits 1.

    Example:
    >>> @click.command()
    ... @one_line_errors
    ... def hello(): ...
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KerasLTError as error:
            raise CommandError(str(error)) from None

    return wrapper
