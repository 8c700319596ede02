"""keras_lt.callbacks.cmo_window: CMO on for `first <= epoch <= last`, from the epoch alone, logged as `cmo`."""

import pytest

from keras_lt.callbacks import CMOWindow
from keras_lt.trainers import CMO


@pytest.mark.parametrize("first, last", [(2, 4), (3, 3), (0, 6)])
def test_the_window_is_inclusive_at_both_ends_and_logged(first, last):
    cmo = CMO(window=(0, 0))  # a window of its own: the callback sets `active`
    window = CMOWindow(cmo, first, last)
    states, logged = [], []
    for epoch in range(8):
        logs = {}
        window.on_epoch_begin(epoch)
        states.append(cmo.active)
        window.on_epoch_end(epoch, logs)
        logged.append(logs["cmo"])
    expected = [first <= epoch <= last for epoch in range(8)]
    assert states == expected
    assert logged == [float(on) for on in expected]


def test_a_resumed_run_mixes_what_its_first_epoch_says():
    cmo = CMO(window=(0, 0))
    window = CMOWindow(cmo, 2, 4)
    for epoch, on in ((5, False), (3, True), (1, False), (4, True)):  # no state carried between epochs
        window.on_epoch_begin(epoch)
        assert cmo.active is on, epoch


def test_a_negative_first_epoch_is_refused():
    with pytest.raises(ValueError, match=r"^start_epoch must be >= 0, got -1\.$"):
        CMOWindow(CMO(window=(0, 0)), -1, 3)


def test_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match=r"^last_epoch must be >= first_epoch, got the window \(5, 2\)\.$"):
        CMOWindow(CMO(window=(0, 0)), 5, 2)
