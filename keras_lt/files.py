"""Writing files: so that no reader, and no stop, ever sees half of one, and only where they can be written."""

import os
import tempfile

from keras_lt.errors import KerasLTError


def atomic_write(path, write):
    """Calls `write(f)` on a private temporary file beside `path`, then renames it to `path`.

    The rename is atomic, so concurrent runs and a process killed mid-write leave either the old
    file or the complete new one; the parent directory is created if needed, and the temporary file
    is removed if `write` fails.

    Args:
        path: the file to write.
        write: a function of one binary file object.

    Example:
    >>> atomic_write("cache/arrays.npz", lambda f: np.savez(f, images=images))
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as f:
        try:
            write(f)
        except BaseException:
            f.close()
            os.remove(f.name)
            raise
    os.replace(f.name, path)


def check_writable(folder, option):
    """Raises one `KerasLTError` line unless files can be created in `folder` (with its missing parents).

    The nearest folder on its path that exists (`folder` itself, or a parent) must be a folder in
    which a file can be created; that is tried with a temporary file, removed at once (permission
    bits alone miss read-only and special file systems, and a root user). Nothing is left behind:
    call it before the work whose results go to `folder`.

    Args:
        folder: where files are to be written (a run directory, a plot's folder).
        option: the option that named it, for the message (e.g. "--output").

    Example:
    >>> check_writable("runs/ce", "--output")
    """
    existing = os.path.normpath(folder)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing) or "."
    if not os.path.isdir(existing):
        raise KerasLTError(f"cannot write in {folder}: {existing} is not a folder; choose another {option}.")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise KerasLTError(
            f"cannot write in {folder}: {existing} is not writable ({error.strerror}); choose another {option}."
        ) from None
