"""BatchNorm with PyTorch's semantics that calls the backend's fused kernel on torch."""

import keras


@keras.saving.register_keras_serializable(package="keras_lt")
class BatchNorm(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with torch's defaults and, on torch, its fused kernel.

    Keras' torch-backend BatchNormalization is unfused (moments plus elementwise arithmetic), a
    visible part of the step time. On the torch backend this layer calls
    `torch.nn.functional.batch_norm` in training and inference, which is also exactly the reference
    semantics: epsilon 1e-5, momentum 0.1 (Keras `momentum=0.9`), and the running variance updated
    with the unbiased batch variance. On other backends it is the Keras layer.

    `sync_statistics = True` (set by `keras_lt.distributed.convert_sync_batch_norm`; a run setting,
    not saved, unlike Keras' TensorFlow-only `synchronized` argument) makes training-mode statistics
    those of the global batch of a multi-process run
    (`keras_lt.distributed.sync_batch_norm`, torch's SyncBatchNorm); in one process it changes nothing.

    Args:
        axis: the channel axis (1 for channels_first).
        momentum: Keras-style momentum of the moving statistics (`1 - torch momentum`).
        epsilon: added to the variance.
        **kwargs: forwarded to `keras.layers.BatchNormalization`.

    Example:
    >>> bn = BatchNorm(axis=1)
    >>> y = bn(np.ones((2, 16, 8, 8), "float32"), training=True)
    """

    sync_statistics = False

    def __init__(self, axis=1, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(axis=axis, momentum=momentum, epsilon=epsilon, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if keras.backend.backend() != "torch" or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        import torch.nn.functional as F

        from keras_lt.distributed import is_distributed
        from keras_lt.distributed import sync_batch_norm

        axis = self.axis % inputs.ndim
        training = bool(training) and self.trainable
        arguments = (
            inputs if axis == 1 else inputs.movedim(axis, 1),  # torch's kernel wants the channels on axis 1
            self.moving_mean.value,
            self.moving_variance.value,
            self.gamma.value if self.scale else None,
            self.beta.value if self.center else None,
        )
        if training and self.sync_statistics and is_distributed():
            outputs = sync_batch_norm(*arguments, momentum=1.0 - self.momentum, eps=self.epsilon)
        else:
            outputs = F.batch_norm(*arguments, training=training, momentum=1.0 - self.momentum, eps=self.epsilon)
        return outputs if axis == 1 else outputs.movedim(1, axis)
