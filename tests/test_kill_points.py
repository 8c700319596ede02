"""`keras_lt.kill_points.kill_point`: SIGKILL at the named point's n-th pass, nothing otherwise."""

import signal

import pytest

from keras_lt import kill_points


@pytest.fixture
def kills(monkeypatch):
    """The signals `kill_point` would have sent, with a fresh pass count."""
    sent = []
    monkeypatch.setattr(kill_points.os, "kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr(kill_points, "_reached", kill_points.collections.Counter())
    return sent


def test_nothing_happens_without_the_variable(kills, monkeypatch):
    monkeypatch.delenv(kill_points.KILL_AT, raising=False)
    kill_points.kill_point("backup.weights")
    assert kills == []


def test_the_nth_pass_of_the_named_point_is_killed(kills, monkeypatch):
    monkeypatch.setenv(kill_points.KILL_AT, "backup.state:2")
    for point in ("backup.state", "backup.weights", "backup.weights", "backup.state", "backup.state"):
        kill_points.kill_point(point)
        if kills:
            break
    assert kills == [signal.SIGKILL] and kill_points._reached["backup.state"] == 2


def test_the_count_defaults_to_the_first_pass(kills, monkeypatch):
    monkeypatch.setenv(kill_points.KILL_AT, "run.trained")
    kill_points.kill_point("run.trained")
    assert kills == [signal.SIGKILL]
