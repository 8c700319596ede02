"""Epoch metrics over all ranks' batches."""

import keras
import torch

from keras_lt.distributed.collectives import all_reduce_sum
from keras_lt.distributed.context import is_distributed


class MetricReduction(keras.callbacks.Callback):
    """At each epoch end, sums every metric's state over the ranks and puts the results in the logs.

    Keras' mean-type metrics (the loss tracker, accuracy, `keras.metrics.Mean`) keep a total and a
    count, so summing their state variables over the ranks gives the metric of the global epoch.
    Place it first among the callbacks, before anything that reads or writes the logs (a
    `CSVLogger`). Nothing happens in a single process.

    Example:
    >>> trainer.fit(batches, epochs=90, callbacks=[MetricReduction(), EpochSeeder(batches), log])
    """

    def on_epoch_end(self, epoch, logs=None):
        if not is_distributed() or logs is None:
            return
        variables = [v for metric in self.model.metrics for v in metric.variables]
        if not variables:
            return
        values = [v.value for v in variables]
        flat = all_reduce_sum(torch.cat([value.reshape(-1).double() for value in values]))
        for variable, part in zip(variables, flat.split([value.numel() for value in values])):
            variable.assign(part.view_as(variable.value).to(variable.value.dtype))
        logs.update({k: float(v) for k, v in self.model.get_metrics_result().items()})
