"""keras_lt.callbacks.validation_metrics: per-epoch (balanced) validation accuracy and the best epoch's weights."""

import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from keras_lt.callbacks import ValidationMetrics
from keras_lt.callbacks.validation_metrics import BEST_FILE

# 7 validation images of 3 long-tailed classes; pixel (0, 0) is the one-hot of PREFERRED (255 on that channel).
LABELS = np.array([0, 0, 0, 0, 1, 1, 2])
PREFERRED = np.array([0, 0, 0, 1, 1, 0, 2])
IMAGES = (255 * np.eye(3)[PREFERRED]).reshape(7, 1, 1, 3).astype("uint8")
# Kernels of the linear network: identity predicts PREFERRED; the others permute the classes.
KERNELS = {
    "identity": np.eye(3, dtype="float32"),
    "swap01": np.eye(3, dtype="float32")[[1, 0, 2]],
    "shift": np.eye(3, dtype="float32")[[1, 2, 0]],
}


def linear_network(kernel="identity"):
    """`logits = pixels @ kernel`: its predictions are `argmax` of a NumPy product."""
    inputs = keras.Input((1, 1, 3))
    network = keras.Model(inputs, keras.layers.Dense(3, use_bias=False)(keras.layers.Flatten()(inputs)))
    network.set_weights([KERNELS[kernel]])
    return network


def scores(kernel):
    """Accuracy and balanced accuracy (mean per-class recall), percent, written out in NumPy."""
    predicted = np.argmax(IMAGES.reshape(7, 3).astype("float32") @ KERNELS[kernel], axis=1)
    recalls = [np.mean(predicted[LABELS == c] == c) for c in range(3)]
    return 100 * np.mean(predicted == LABELS), 100 * np.mean(recalls)


def epoch_end(callback, epoch, kernel):
    """Sets the network's kernel (as a training epoch would change it), ends the epoch; returns its logs."""
    callback.network.set_weights([KERNELS[kernel]])
    logs = {"loss": 1.0}
    callback.on_epoch_end(epoch, logs)
    return logs


def test_logs_accuracy_and_balanced_accuracy_in_percent():
    callback = ValidationMetrics(linear_network(), IMAGES, LABELS, batch_size=3)  # 3 passes: 3 + 3 + 1 images
    logs = epoch_end(callback, 0, "identity")
    accuracy, balanced = scores("identity")
    assert (accuracy, balanced) == pytest.approx((100 * 5 / 7, 100 * (3 / 4 + 1 / 2 + 1) / 3))  # the hand count
    assert logs.keys() == {"loss", "val_accuracy", "val_balanced_accuracy"}
    np.testing.assert_allclose([logs["val_accuracy"], logs["val_balanced_accuracy"]], [accuracy, balanced])
    assert callback.best is None and callback.restore_best() is None  # no best_dir: nothing kept
    callback.on_epoch_end(1)  # no logs dict: scored, nothing to write


def test_the_best_balanced_epoch_is_kept_and_restored(tmp_path):
    best_dir = str(tmp_path)
    callback = ValidationMetrics(linear_network(), IMAGES, LABELS, best_dir=best_dir)
    assert callback.best is None and ValidationMetrics.read_best(best_dir) is None
    balanced = {kernel: scores(kernel)[1] for kernel in KERNELS}
    assert balanced["shift"] < balanced["swap01"] < balanced["identity"]
    for epoch, kernel in enumerate(["swap01", "identity", "shift", "identity"]):  # best at epoch 1; epoch 3 ties
        epoch_end(callback, epoch, kernel)
    assert callback.best == ValidationMetrics.read_best(best_dir)
    assert callback.best["epoch"] == 2  # 1-based: the first epoch with the best score
    np.testing.assert_allclose(callback.best["val_balanced_accuracy"], balanced["identity"])
    assert os.listdir(best_dir) == [BEST_FILE]

    callback.network.set_weights([KERNELS["shift"]])
    assert callback.restore_best() == 2
    np.testing.assert_array_equal(callback.network.get_weights()[0], KERNELS["identity"])


def test_a_resumed_run_keeps_the_best_record_of_the_interrupted_one(tmp_path):
    best_dir = str(tmp_path)
    epoch_end(ValidationMetrics(linear_network(), IMAGES, LABELS, best_dir=best_dir), 0, "swap01")
    resumed = ValidationMetrics(linear_network("shift"), IMAGES, LABELS, best_dir=best_dir)  # a fresh process
    assert resumed.best["epoch"] == 1
    epoch_end(resumed, 1, "shift")  # worse: the record stays
    assert ValidationMetrics.read_best(best_dir)["epoch"] == 1
    assert resumed.restore_best() == 1
    np.testing.assert_array_equal(resumed.network.get_weights()[0], KERNELS["swap01"])
    epoch_end(resumed, 2, "identity")  # better: replaces it
    np.testing.assert_allclose(ValidationMetrics.read_best(best_dir)["val_balanced_accuracy"], scores("identity")[1])
    assert ValidationMetrics.read_best(best_dir)["epoch"] == 3
