"""Errors keras-lt raises for bad input: each message is one line saying what was wrong and what to do."""


class KerasLTError(Exception):
    """Base class of the user-facing errors; the CLI prints them as one line, never a traceback."""


class UnknownModelError(KerasLTError, ValueError):
    """A model name that is not a zoo name, a directory or an `hf://` URI."""


class CheckpointError(KerasLTError, ValueError):
    """A checkpoint that is missing files or does not match the architecture it declares."""


class DataError(KerasLTError, ValueError):
    """Data that is missing, unreadable or in a layout keras-lt does not know."""


def did_you_mean(name, choices):
    """A " (did you mean 'x'?)" hint for a misspelt `name` among `choices` (difflib), or "".

    Args:
        name: what the user typed.
        choices: the names that exist.

    Returns:
        The hint, to append to an error message.

    Example:
    >>> did_you_mean("ce-resnet32-cifar10-lt", ["ce-resnet32-cifar10lt"])
    " (did you mean 'ce-resnet32-cifar10lt'?)"
    """
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
