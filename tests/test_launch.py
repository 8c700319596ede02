"""`keras_lt.distributed.launch`: the torchrun run `keras-lt train --devices N` makes, and its exit status.

torchrun itself takes seconds to start (tests/test_train_devices.py runs it, a rank's error and a
Ctrl-C included): here its entry point is replaced, recording what it was given or failing as a
rank would.
"""

import os
import signal

import pytest
from torch.distributed import run as torchrun
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from keras_lt.distributed import launch
from keras_lt.errors import RANK_ERRORS_ENV


def failing(exitcode, rank=1, lines=()):
    """A stand-in for torchrun's run in which `rank` exits with `exitcode` (negative: killed by that signal).

    `lines` are the error lines the ranks leave, rank 0's first, as `CommandError.show` leaves them.
    """

    def run(args):
        for i, line in enumerate(lines):
            with open(os.path.join(os.environ[RANK_ERRORS_ENV], str(i)), "w") as f:
                f.write(line)
        failure = ProcessFailure(local_rank=rank, pid=1234, exitcode=exitcode, error_file="")
        raise ChildFailedError("keras_lt.cli.main", {rank: failure})

    return run


def test_launch_runs_the_cli_under_torchrun_standalone(monkeypatch):
    runs = []
    monkeypatch.setattr(torchrun, "run", runs.append)
    assert launch("2", ["train", "--recipe", "r.json"]) == (0, [])
    (args,) = runs
    assert (args.standalone, args.nproc_per_node, args.module) == (True, "2", True)
    assert (args.training_script, args.training_script_args) == ("keras_lt.cli.main", ["train", "--recipe", "r.json"])


def test_a_failing_rank_gives_its_exit_status(monkeypatch, capsys):
    monkeypatch.setattr(torchrun, "run", failing(3))
    assert launch(2, ["train"]) == (3, [])
    assert capsys.readouterr().err == "" and RANK_ERRORS_ENV not in os.environ


@pytest.mark.parametrize("lines, errors", [
    (["no images in data/train", "no images in data/train"], ["no images in data/train"]),
    (["no images in data/train", "disk full", "no images in data/train"],
     ["ranks 0, 2: no images in data/train", "rank 1: disk full"]),
], ids=["the same line", "different lines"])
def test_the_ranks_error_lines_come_back_once_each(monkeypatch, lines, errors):
    monkeypatch.setattr(torchrun, "run", failing(1, lines=lines))
    assert launch(len(lines), ["train"]) == (1, errors)


def test_a_rank_killed_by_a_signal_is_one_line_before_what_the_others_said(monkeypatch):
    monkeypatch.setattr(torchrun, "run", failing(-signal.SIGKILL, lines=["interrupted; out keeps epoch 3"]))
    assert launch(2, ["train"]) == (1, [
        "rank 1 of the run was killed by SIGKILL (out of memory?); every rank stopped.",
        "interrupted; out keeps epoch 3",
    ])


def test_a_signal_to_the_launcher_is_its_shell_status(monkeypatch):
    def interrupted(args):
        raise SignalException("stopped", signal.SIGINT)

    monkeypatch.setattr(torchrun, "run", interrupted)
    assert launch(2, ["train"]) == (128 + signal.SIGINT, [])  # 130, as a shell gives it
