"""Errors keras-lt raises for bad input: each message is one line saying what was wrong and what to do."""

# Set by `keras-lt train --devices N` for its ranks: the directory where each leaves its error line, a file named
# by its `RANK` (`keras_lt.cli.errors.CommandError`), for the launcher to print once (`keras_lt.distributed.launch`).
RANK_ERRORS_ENV = "KERAS_LT_RANK_ERRORS"


class KerasLTError(Exception):
    """Base class of the user-facing errors; the CLI prints them as one line, never a traceback."""


class UnknownModelError(KerasLTError, ValueError):
    """A model name that is not a zoo name, a directory or an `hf://` URI."""


class CheckpointError(KerasLTError, ValueError):
    """A checkpoint that is missing files or does not match the architecture it declares."""


class DataError(KerasLTError, ValueError):
    """Data that is missing, unreadable or in a layout keras-lt does not know."""


def did_you_mean(name, choices, n=1):
    """A " (did you mean 'x'?)" hint for a misspelt `name` among `choices` (difflib), or "".

    Args:
        name: what the user typed.
        choices: the names that exist.
        n: offer up to this many close matches, the closest first.

    Returns:
        The hint, to append to an error message.

    Example:
    >>> did_you_mean("ce-resnet32-cifar10-lt", ["ce-resnet32-cifar10lt"])
    " (did you mean 'ce-resnet32-cifar10lt'?)"
    >>> did_you_mean("resnet32-cifar10lt", ["ce-resnet32-cifar10lt", "bs-resnet32-cifar10lt"], n=3)
    " (did you mean 'ce-resnet32-cifar10lt' or 'bs-resnet32-cifar10lt'?)"
    """
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=n, cutoff=0.6)
    quoted = " or ".join(f"'{c}'" for c in close)
    return f" (did you mean {quoted}?)" if close else ""


def name_some(names, shown=3):
    """`names` for a message: the first `shown`, then how many more.

    Example:
    >>> name_some(["train", "test", "notes.txt", "README.md"])
    'train, test, notes.txt and 1 more'
    """
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
