"""The training pipeline that suits the images: on the device for an array, streamed for image files."""

from keras_lt.data.image_files import ImageFiles
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.data.streaming import StreamingBatches


def training_batches(images, labels, num_classes, batch_size=128, sampler="instance", augment=True, seed=0, **kwargs):
    """`DeviceBatches` of a uint8 image array, or `StreamingBatches` of an `ImageFiles`.

    The stage-2 pipelines (cRT, LWS, MiSLAS, CP-Mix's fine-tune) build their batches here, so they
    run on either kind of data; `augment=True` is each pipeline's standard augmentation (pad + crop
    + flip on the device, random-resized crop + flip when streaming).

    Args:
        images: uint8 `(N, H, W, C)` array or `ImageFiles`.
        labels: integer labels `(N,)`.
        num_classes: number of classes.
        batch_size: images per global batch.
        sampler: one of `keras_lt.data.samplers.SAMPLERS`.
        augment: the pipeline's augmentation name, True or False.
        seed: seed of the order and the augmentation.
        **kwargs: further arguments of the chosen pipeline.

    Returns:
        A `keras_lt.data.TrainingBatches`.

    Example:
    >>> batches = training_batches(images, labels, 1000, 512, sampler="class_balanced")
    """
    kind = StreamingBatches if isinstance(images, ImageFiles) else DeviceBatches
    return kind(images, labels, num_classes, batch_size, sampler=sampler, augment=augment, seed=seed, **kwargs)
