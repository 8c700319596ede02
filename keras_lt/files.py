"""Writing a file so that no reader, and no stop, ever sees half of it."""

import os
import tempfile


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
