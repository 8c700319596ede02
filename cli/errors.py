"""`one_line_errors`: bad input ends a command with one `Error: ...` line, never a traceback."""

import functools

import click

from keras_lt.errors import KerasLTError


def one_line_errors(command):
    """Prints a `KerasLTError` (bad input) as one `Error: ...` line on stderr and exits 1.

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
            raise click.ClickException(str(error)) from None

    return wrapper
