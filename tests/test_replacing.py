"""`keras_lt.replacing`: a finished run moved aside while a new one writes, and put back unless the new one is kept."""

import os

import pytest

from keras_lt.callbacks import TrainingDiverged
from keras_lt.replacing import replacing


def finished_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("the finished run")
    return out


def new_run(out, name="new.txt"):
    out.mkdir()
    (out / name).write_text("the new run")


def test_the_finished_run_is_deleted_once_the_new_one_completes(tmp_path):
    out = finished_run(tmp_path)
    with replacing(str(out)):
        assert not out.exists()  # moved aside while the new run trains
        new_run(out)
    assert os.listdir(tmp_path) == ["run"] and os.listdir(out) == ["new.txt"]


@pytest.mark.parametrize("writes", [False, True], ids=["before writing", "after writing"])
def test_the_finished_run_is_put_back_when_the_new_one_fails_before_an_epoch(tmp_path, writes):
    out = finished_run(tmp_path)
    with pytest.raises(RuntimeError), replacing(str(out)):
        if writes:
            new_run(out, "partial.txt")
        raise RuntimeError("a bad recipe")
    assert os.listdir(tmp_path) == ["run"] and os.listdir(out) == ["old.txt"]


def test_a_stopped_run_is_kept_where_keeps_stopped_says(tmp_path):
    out = finished_run(tmp_path)
    with pytest.raises(KeyboardInterrupt), replacing(str(out), keeps_stopped=lambda output: True):
        new_run(out, "backup")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["run"] and os.listdir(out) == ["backup"]


def test_a_diverged_run_is_never_kept_and_the_message_says_what_stayed(tmp_path):
    out = finished_run(tmp_path)
    with pytest.raises(TrainingDiverged) as error, replacing(str(out), keeps_stopped=lambda output: True):
        new_run(out, "backup")
        raise TrainingDiverged("the loss is nan at epoch 3")
    assert str(error.value).endswith(f"; {out} keeps the finished run it held.")
    assert os.listdir(tmp_path) == ["run"] and os.listdir(out) == ["old.txt"]
