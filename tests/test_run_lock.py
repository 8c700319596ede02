"""`keras_lt.run_lock.RunLock`: one holder per directory, a one-line refusal, no stale lock after a kill."""

import os
import signal
import subprocess
import sys

import pytest

from keras_lt.errors import KerasLTError
from keras_lt.run_lock import LOCK_FILE
from keras_lt.run_lock import RunLock

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"pid %d: keras-lt train" % os.getpid())
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_holder_is_refused_in_one_line_and_release_removes_the_file(tmp_path):
    directory = str(tmp_path / "run")
    with RunLock(directory):
        with pytest.raises(KerasLTError, match=rf"in use by another keras-lt run \(pid {os.getpid()}: ") as error:
            RunLock(directory).acquire()
        assert "\n" not in str(error.value)
        with pytest.raises(KerasLTError, match="in use"):
            RunLock.check(directory)
    assert not os.path.exists(directory)  # created by the lock, and nothing written: removed with it
    RunLock.check(directory)  # free again


def test_release_keeps_a_directory_it_did_not_create_or_that_was_written(tmp_path):
    with pytest.raises(KeyboardInterrupt):  # a run that fails before it writes: no empty directory left
        with RunLock(str(tmp_path / "failed")):
            raise KeyboardInterrupt
    assert not (tmp_path / "failed").exists()
    with RunLock(str(tmp_path / "written")):
        (tmp_path / "written" / "recipe.json").write_text("{}")
    (tmp_path / "there").mkdir()
    with RunLock(str(tmp_path / "there")):
        pass
    assert os.listdir(tmp_path / "written") == ["recipe.json"] and os.listdir(tmp_path / "there") == []


def test_check_writes_nothing(tmp_path):
    RunLock.check(str(tmp_path / "absent"))
    assert not (tmp_path / "absent").exists()


def test_a_killed_holder_leaves_no_lock(tmp_path):
    directory = tmp_path / "run"
    directory.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory / LOCK_FILE)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(KerasLTError, match=rf"pid {holder.pid}: keras-lt train"):
            RunLock.check(str(directory))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (directory / LOCK_FILE).exists()  # the file stays, the lock does not
    with RunLock(str(directory)) as lock:
        assert lock.fd is not None


def test_a_directory_that_cannot_be_written_is_one_line_and_nothing_is_left(tmp_path):
    """Under a file (as `decouple --output afile/x` gives it): refused by `check` and `acquire`, in one line."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    directory = str(afile / "run")
    for attempt in (RunLock.check, lambda d: RunLock(d).acquire()):
        with pytest.raises(KerasLTError) as error:
            attempt(directory)
        assert str(error.value) == f"cannot write in {directory}: {afile} is not a folder; choose another --output."
    assert os.listdir(tmp_path) == ["afile"]


@pytest.mark.skipif(not os.path.isdir("/sys/fs"), reason="needs Linux's /sys, where no file can be created")
def test_a_directory_without_write_permission_is_one_line():
    with pytest.raises(KerasLTError, match=r"^cannot write in /sys/fs/run: /sys/fs is not writable \(.+\); choose "):
        RunLock("/sys/fs/run").acquire()


def test_a_command_line_with_a_file_name_that_is_not_utf8_is_recorded_as_its_bytes(tmp_path, monkeypatch):
    """`--data-dir $'dat\\xe9'`: Python holds the byte as a surrogate, which str.encode() refuses."""
    monkeypatch.setattr(sys, "argv", ["keras-lt", "train", "--data-dir", os.fsdecode(b"dat\xe9")])
    directory = str(tmp_path / "run")
    with RunLock(directory):
        with open(os.path.join(directory, LOCK_FILE), "rb") as f:
            assert f.read() == f"pid {os.getpid()}: keras-lt train --data-dir ".encode() + b"dat\xe9\n"
        with pytest.raises(KerasLTError, match=r"in use by another keras-lt run \(pid \d+: keras-lt train --data-dir dat"):
            RunLock(directory).acquire()
