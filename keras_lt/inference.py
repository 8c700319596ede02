"""Prediction only: how many images one forward pass takes, and the pass itself without training's overheads."""

import keras
import numpy as np

from keras_lt.data.image_files import ImageFiles
from keras_lt.models import direct_call

PIXELS_PER_BATCH = 8 * 224 * 224  # 8 ImageNet-size images per pass, 392 CIFAR-size ones


def inference_batch_size(image_size):
    """Images per forward pass that keep prediction's peak memory well under 1 GB on a CPU.

    Without gradients a pass holds a few feature maps at a time (`keras_lt.models.direct_call` drops
    each layer output after its last reader), under 0.5 kB per input pixel in a ResNet-32 or a
    ResNet-50, on top of the ~0.5 GB that torch, Keras and the model take: 8 images of 224 x 224 or
    392 of 32 x 32 (proportionally fewer larger ones, at least one) peak at about 0.75 GB in all.
    Larger batches save little CPU time from there; a GPU goes faster with them (`--batch-size 256`). Figures: benchmarks/results/predict_memory_freeing_cpu.log.

    Args:
        image_size: the model's `(height, width)`.

    Example:
    >>> inference_batch_size((32, 32)), inference_batch_size((224, 224))
    (392, 8)
    """
    return max(1, PIXELS_PER_BATCH // (image_size[0] * image_size[1]))


def predict_logits(network, images, batch_size=None):
    """`network.predict(images)`: the logits as a NumPy array, `inference_batch_size` images per pass.

    Each pass runs the layers' `call` directly (`keras_lt.models.direct_call`), without gradients:
    the values of `network.predict_on_batch`, without the per-layer bookkeeping that makes small
    batches slow. Images on disk (`keras_lt.data.ImageFiles`: ImageNet-LT, Places-LT, iNaturalist,
    large folders) are decoded batch by batch by their worker pool with the evaluation transform
    (`keras_lt.data.EvalBatches`: resize to 256/224 of the side, centre crop), so memory holds one
    batch of them, not the split.

    Args:
        network: a keras-lt model.
        images: uint8 (or float, 0..255) `(N, H, W, C)` images, or a `keras_lt.data.ImageFiles`.
        batch_size: images per pass; None for `inference_batch_size` of their size.

    Example:
    >>> logits = predict_logits(keras_lt.from_pretrained("ce-resnet32-cifar10lt"), images)
    >>> files, labels, _ = keras_lt.data.load_image_files("imagenet_lt", "test", "/data/imagenet")
    >>> logits = predict_logits(network, files, batch_size=256)  # streamed from disk
    """
    import torch

    batch_size = batch_size or inference_batch_size(images.shape[1:3])
    with torch.no_grad():
        outputs = [
            keras.ops.convert_to_numpy(direct_call(network, keras.ops.convert_to_tensor(batch), training=False))
            for batch in _batches(images, batch_size)
        ]
    return np.concatenate(outputs) if outputs else np.zeros((0, *network.output_shape[1:]), "float32")


def _batches(images, batch_size):
    """`images` `batch_size` at a time: slices of an array, or files decoded by `EvalBatches`' workers."""
    if not isinstance(images, ImageFiles):
        yield from (images[start:start + batch_size] for start in range(0, len(images), batch_size))
        return
    from keras_lt.data.eval_batches import EvalBatches

    batches = EvalBatches(images, batch_size)
    try:
        for index in range(len(batches)):
            yield batches[index][0]
    finally:
        batches.on_epoch_end()  # its decoding workers exit
