"""`keras_lt.distributed.launch`: the torchrun command `keras-lt train --devices N` runs, and its exit status."""

import subprocess
import sys

from keras_lt.distributed import launch


def test_launch_runs_the_cli_under_torchrun_and_returns_its_status(monkeypatch):
    """torchrun itself takes seconds to start (tests/test_train_devices.py runs it): here the command is recorded."""
    commands = []
    monkeypatch.setattr(subprocess, "call", lambda command: commands.append(command) or 3)
    assert launch("2", ["train", "--recipe", "r.json"]) == 3
    assert commands == [[
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "keras_lt.cli.main", "train", "--recipe", "r.json",
    ]]
