"""Errors keras-lt raises for bad input: each message is one line saying what was wrong and what to do."""


class KerasLTError(Exception):
    """Base class of the user-facing errors; the CLI prints them as one line, never a traceback."""


class UnknownModelError(KerasLTError, ValueError):
    """A model name that is not a zoo name, a directory or an `hf://` URI."""


class CheckpointError(KerasLTError, ValueError):
    """A checkpoint that is missing files or does not match the architecture it declares."""


class DataError(KerasLTError, ValueError):
    """Data that is missing, unreadable or in a layout keras-lt does not know."""
