"""The base trainer: empirical risk minimisation with a pluggable loss and a torch train step."""

import keras
import torch


@keras.saving.register_keras_serializable(package="keras_lt")
class ERMTrainer(keras.Model):
    """A `keras.Model` that trains a network with a custom torch `train_step`.

    The trainer wraps the network it trains (`trainer.network` is what gets published). Compile it
    with a loss from `keras_lt.losses` and `keras_lt.trainers.SGD`, then `fit` it on
    `keras_lt.data.DeviceBatches`. Methods subclass it and override `training_loss(x, y)`, which
    returns the scalar to minimise and the logits the metrics see; the step itself (zero grad,
    backward, optimizer update, metrics) stays here.

    Method state that must survive a checkpoint (a confusion matrix, covariances, a stage) is a
    non-trainable variable of the trainer, so `BackupAndRestore` and `--resume` carry it.

    Args:
        network: a `keras.Model` mapping images (0..255, NHWC) to logits.
        **kwargs: forwarded to `keras.Model`.

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(10))
    >>> trainer.compile(optimizer=SGD(0.1, weight_decay=2e-4), loss=BalancedSoftmax(counts),
    ...                 metrics=["accuracy"])
    >>> trainer.fit(DeviceBatches(images, labels, 10), epochs=30)
    """

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def training_loss(self, x, y):
        """Returns `(loss, logits)` for one batch; subclasses add their regularisers here."""
        logits = self(x, training=True)
        return self.compute_loss(x=x, y=y, y_pred=logits, training=True), logits

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        loss, logits = self.training_loss(x, y)
        self._loss_tracker.update_state(loss, sample_weight=x.shape[0])
        loss.backward()
        variables = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in variables], variables)
        return self.compute_metrics(x, y, logits)

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network)}

    @classmethod
    def from_config(cls, config):
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
