"""keras_lt.callbacks.cpmix_stage: CP-Mix's stage 2 from `start_epoch`, logged with the confusions counted so far."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import CPMixStage
from keras_lt.trainers import ConfusionPairMixing
from keras_lt.trainers import ERMTrainer


def built_cpmix():
    """A `ConfusionPairMixing` built with a trainer of a 3-class network: a 3 x 3 confusion variable."""
    inputs = keras.Input((2,))
    cpmix = ConfusionPairMixing()
    ERMTrainer(keras.Model(inputs, keras.layers.Dense(3)(inputs)), regularizers=[cpmix])
    return cpmix


def test_the_stage_switches_at_start_epoch_and_logs_the_confusion_total():
    cpmix = built_cpmix()
    stage = CPMixStage(cpmix, 2)
    counts = np.array([[5, 2, 0], [1, 7, 3], [0, 4, 6]], "float32")
    states, logged = [], []
    for epoch in range(4):
        stage.on_epoch_begin(epoch)
        states.append(cpmix.active)
        cpmix.confusion.assign(counts * (epoch + 1))  # the trainer's steps count confusions
        logs = {}
        stage.on_epoch_end(epoch, logs)
        logged.append(logs)
    assert states == [False, False, True, True]
    assert [logs["cpmix"] for logs in logged] == [0.0, 0.0, 1.0, 1.0]
    assert [logs["confusions"] for logs in logged] == [28.0 * (epoch + 1) for epoch in range(4)]  # 5+2+1+7+3+4+6


def test_a_resumed_run_starts_in_the_stage_its_epoch_says():
    cpmix = built_cpmix()
    stage = CPMixStage(cpmix, 200)
    stage.on_epoch_begin(250)
    assert cpmix.active
    stage.on_epoch_begin(199)
    assert not cpmix.active
    stage.on_epoch_end(199)  # no logs dict: nothing to write, no error


def test_a_negative_start_epoch_is_refused():
    with pytest.raises(ValueError, match=r"^start_epoch must be >= 0, got -1\.$"):
        CPMixStage(built_cpmix(), -1)
