"""Per-epoch metrics on a validation split held out of the training data, and the best epoch's weights."""

import os

import keras
import numpy as np

from keras_lt.files import atomic_write
from keras_lt.inference import predict_logits

BEST_FILE = "best.npz"  # one file (atomic): the best epoch, its score and its weights


class ValidationMetrics(keras.callbacks.Callback):
    """Adds `val_accuracy` and `val_balanced_accuracy` (percent) to each epoch's logs.

    Place it before `keras.callbacks.CSVLogger`, so both columns reach the file. With `best_dir`,
    the weights of the epoch with the best balanced validation accuracy are kept there (and the
    record survives a resume); `restore_best()` then loads them. The test split is never seen.
    Images on disk are decoded batch by batch (`keras_lt.inference.predict_logits`).

    Args:
        network: the model whose predictions are scored.
        images: the validation images: uint8 NHWC, or a `keras_lt.data.ImageFiles` (streamed data).
        labels: their int labels.
        best_dir: where to keep the best epoch's weights (None: do not select).
        batch_size: images per forward pass (None: `keras_lt.inference.inference_batch_size`).

    Example:
    >>> callbacks = [ValidationMetrics(network, val_images, val_labels), keras.callbacks.CSVLogger(log)]
    """

    def __init__(self, network, images, labels, best_dir=None, batch_size=None):
        super().__init__()
        self.network, self.images, self.labels, self.best_dir = network, images, labels, best_dir
        self.batch_size = batch_size
        self.best = self.read_best(best_dir)

    @staticmethod
    def read_best(best_dir):
        """`{"epoch", "val_balanced_accuracy"}` of the best epoch kept in `best_dir` (epochs from 1), or None."""
        path = os.path.join(best_dir, BEST_FILE) if best_dir else None
        if path is None or not os.path.isfile(path):
            return None
        with np.load(path) as arrays:
            return {"epoch": int(arrays["epoch"]), "val_balanced_accuracy": float(arrays["score"])}

    def on_epoch_end(self, epoch, logs=None):
        predicted = np.argmax(predict_logits(self.network, self.images, self.batch_size), axis=-1)
        correct = predicted == self.labels
        per_class = [correct[self.labels == c].mean() for c in np.unique(self.labels)]
        scores = {"val_accuracy": 100.0 * correct.mean(), "val_balanced_accuracy": 100.0 * float(np.mean(per_class))}
        if logs is not None:
            logs.update(scores)
        if self.best_dir and (self.best is None or scores["val_balanced_accuracy"] > self.best["val_balanced_accuracy"]):
            self.best = {"epoch": epoch + 1, "val_balanced_accuracy": scores["val_balanced_accuracy"]}
            weights = {f"w{i}": w for i, w in enumerate(self.network.get_weights())}
            record = {"epoch": epoch + 1, "score": scores["val_balanced_accuracy"], **weights}
            atomic_write(os.path.join(self.best_dir, BEST_FILE), lambda f: np.savez(f, **record))

    def restore_best(self):
        """Loads the best epoch's weights into the network; returns that epoch (1-based) or None."""
        if self.best is None:
            return None
        with np.load(os.path.join(self.best_dir, BEST_FILE)) as arrays:
            self.network.set_weights([arrays[f"w{i}"] for i in range(len(arrays.files) - 2)])
        return self.best["epoch"]
