"""keras_lt.callbacks.epoch_switch: the state recomputed from the epoch number, its logged column, a bad start."""

import pytest

from keras_lt.callbacks import EpochSwitch


class Recording(EpochSwitch):
    """A switch that records every state it is told to apply."""

    def __init__(self, start_epoch, log_key="on"):
        super().__init__(start_epoch, log_key)
        self.applied = []

    def apply(self, active):
        self.applied.append(active)


@pytest.mark.parametrize("start_epoch", [0, 2, 5])
def test_the_state_is_epoch_at_least_start_and_is_logged_under_its_key(start_epoch):
    switch = Recording(start_epoch, "on")
    logged = []
    for epoch in range(5):
        logs = {"loss": 1.0}
        switch.on_epoch_begin(epoch)
        switch.on_epoch_end(epoch, logs)
        logged.append(logs)
    expected = [epoch >= start_epoch for epoch in range(5)]
    assert switch.applied == expected
    assert logged == [{"loss": 1.0, "on": float(on)} for on in expected]


def test_a_resumed_run_gets_the_state_from_its_first_epoch_alone():
    switch = Recording(3)
    assert switch.active is False and switch.applied == []  # nothing applied before an epoch begins
    for epoch in (5, 1, 3):  # any order: no state is carried from one epoch to the next
        switch.on_epoch_begin(epoch)
    assert switch.applied == [True, False, True]
    switch.on_epoch_end(3)  # no logs dict: nothing to write, no error


def test_a_negative_start_epoch_is_refused():
    with pytest.raises(ValueError, match=r"^start_epoch must be >= 0, got -1\.$"):
        Recording(-1)


def test_the_base_class_has_no_state_of_its_own_to_set():
    with pytest.raises(NotImplementedError):
        EpochSwitch(0, "on").on_epoch_begin(0)
