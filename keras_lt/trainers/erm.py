"""The base trainer: empirical risk minimisation with a pluggable loss and a torch train step."""

import keras
import torch

from keras_lt.models.direct_call import direct_call


@keras.saving.register_keras_serializable(package="keras_lt")
class ERMTrainer(keras.Model):
    """A `keras.Model` that trains a network with a custom torch `train_step`.

    The trainer wraps the network it trains (`trainer.network` is what gets published). Compile it
    with a loss from `keras_lt.losses` and `keras_lt.trainers.SGD`, then `fit` it on
    `keras_lt.data.DeviceBatches` with an `EpochSeeder` and `shuffle=False` (the batches draw each
    epoch's order; Keras' shuffle would reorder them from Python's global `random`, which a resumed
    run does not replay). Methods subclass it and override `training_loss(x, y, sample_weight)`,
    which returns the scalar to minimise and the logits the metrics see; the step itself (zero
    grad, backward, optimizer update, metrics) stays here.

    Method state that must survive a checkpoint (a confusion matrix, covariances, a stage) is a
    non-trainable variable of the trainer, so `BackupAndRestore` and `--resume` carry it.

    Args:
        network: a `keras.Model` mapping images (0..255, NHWC) to logits.
        **kwargs: forwarded to `keras.Model`.

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(10))
    >>> trainer.compile(optimizer=SGD(0.1, weight_decay=2e-4), loss=BalancedSoftmax(counts),
    ...                 metrics=["accuracy"])
    >>> batches = DeviceBatches(images, labels, 10)
    >>> trainer.fit(batches, epochs=30, callbacks=[EpochSeeder(batches)], shuffle=False)
    """

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, training=False):
        return direct_call(self.network, inputs, training=training)

    def training_loss(self, x, y, sample_weight=None):
        """Returns `(loss, logits)` for one batch; subclasses add their regularisers here.

        `sample_weight` is the batch's per-sample weight (`fit`'s `class_weight` or weighted data),
        None when there is none.
        """
        logits = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight, training=True)
        return loss, logits

    def epoch_callbacks(self):
        """Callbacks that drive this trainer's epoch-dependent state (stages, windows, ramps).

        `keras_lt.training` adds them to `fit`; state must be recomputed from the epoch number so
        that `--resume` restores it. None for plain ERM.
        """
        return []

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        loss, logits = self.training_loss(x, y, sample_weight)
        loss.backward()
        variables = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in variables], variables)
        # Metrics see detached tensors: they must not keep the step's autograd graph alive.
        self._loss_tracker.update_state(loss.detach(), sample_weight=x.shape[0])
        return self.compute_metrics(x, y, logits.detach(), sample_weight)

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network)}

    @classmethod
    def from_config(cls, config):
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
