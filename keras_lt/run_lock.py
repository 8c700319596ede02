"""One run per output directory: an exclusive lock that a dead process cannot leave behind."""

import fcntl
import os
import sys

from keras_lt.errors import KerasLTError
from keras_lt.files import check_writable

LOCK_FILE = ".keras-lt.lock"


class RunLock:
    """An exclusive `flock` on `<directory>/.keras-lt.lock`, held while a run writes there.

    The kernel releases an `flock` when its process dies, however it dies (kill -9 included), so a
    stale lock file never blocks a later run: only a live holder does. The file names the holder
    (pid and command) for the message a second run gets, and is removed on release, with the
    directory if the lock created it and nothing else was written there (a run that failed first).
    A directory that cannot be created or written in (a file on its path, no permission) is one
    `KerasLTError` line, from `check` before the work and from `acquire`.

    Args:
        directory: the run directory (created on `acquire`).

    Example:
    >>> RunLock.check("runs/ce")  # raises if a live run holds it; writes nothing
    >>> with RunLock("runs/ce"):
    ...     train_into("runs/ce")
    """

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, LOCK_FILE)
        self.fd = None
        self.created = False

    @classmethod
    def check(cls, directory):
        """Raises one `KerasLTError` line if a live process holds the lock of `directory`, or it cannot be written.

        Nothing is left behind (`keras_lt.files.check_writable`).
        """
        check_writable(directory, "--output")
        path = os.path.join(directory, LOCK_FILE)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # no lock file (or no directory): nobody holds it
            return
        try:
            cls._lock(fd, fcntl.LOCK_SH, directory)
        finally:
            os.close(fd)  # closing releases the probe's shared lock

    def acquire(self):
        """Takes the lock, or raises one `KerasLTError` line naming the live run that holds it (or why it cannot)."""
        check_writable(self.directory, "--output")
        self.created = not os.path.isdir(self.directory)
        os.makedirs(self.directory, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._lock(fd, fcntl.LOCK_EX, self.directory)
                # A holder that released meanwhile removed the file we opened: lock the new one.
                if os.path.exists(self.path) and os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, os.fsencode(f"pid {os.getpid()}: {' '.join(sys.argv)}\n"))  # a file name's bytes as they are
        self.fd = fd
        return self

    def release(self):
        """Removes the lock file and releases the lock."""
        if self.fd is None:
            return
        os.remove(self.path)
        os.close(self.fd)
        self.fd = None
        if self.created and not os.listdir(self.directory):
            os.rmdir(self.directory)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    @staticmethod
    def _lock(fd, mode, directory):
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (os.pread(fd, 200, 0).decode(errors="replace").splitlines() or ["another process"])[0]
            raise KerasLTError(
                f"{directory} is in use by another keras-lt run ({holder}); wait for it to end or "
                "choose another --output."
            ) from None
