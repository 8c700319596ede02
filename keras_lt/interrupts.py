"""A Ctrl-C that reaches the top of the `keras-lt` command: one line on stderr, never a traceback."""

import sys

MESSAGE = "Error: interrupted while keras-lt was starting; nothing was done."


def one_line_interrupts():
    """Makes an uncaught `KeyboardInterrupt` end the process with one `Error:` line instead of a traceback.

    The `keras-lt` command installs it first thing, so a Ctrl-C before a command runs ends in one
    line too; since the CLI became lazy, torch and Keras load inside the command, where Click's
    "Aborted!" is the one line. Inside a command, Click answers a Ctrl-C itself
    ("Aborted!"), and `keras-lt train` says whether `--resume` continues the run. Other errors keep
    Python's report.

    Example:
    >>> one_line_interrupts()  # in the command's entry point, before the slow imports
    """
    report = sys.excepthook

    def hook(kind, value, traceback):
        if issubclass(kind, KeyboardInterrupt):
            print(MESSAGE, file=sys.stderr)
        else:
            report(kind, value, traceback)

    sys.excepthook = hook
