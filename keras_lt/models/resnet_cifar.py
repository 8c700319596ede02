"""ResNets for 32x32 inputs (He et al., 2016), as in the LDAM-DRW code: 16/32/64 channels."""

import keras

from keras_lt.layers import SubsamplePad
from keras_lt.models import blocks
from keras_lt.models.registry import register_architecture

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


def _basic_block(x, filters, strides, name):
    shortcut = x
    if strides != 1 or x.shape[blocks.CHANNEL_AXIS] != filters:
        shortcut = SubsamplePad(filters, blocks.DATA_FORMAT, name=f"{name}_shortcut")(x)
    y = blocks.conv(x, filters, 3, strides, name=f"{name}_conv1")
    y = blocks.relu(blocks.batch_norm(y, name=f"{name}_bn1"))
    y = blocks.conv(y, filters, 3, name=f"{name}_conv2")
    y = blocks.batch_norm(y, name=f"{name}_bn2")
    return blocks.relu(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


def cifar_resnet(
    depth,
    num_classes,
    classifier="linear",
    input_shape=(32, 32, 3),
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    name=None,
    logit_scale=False,
):
    """A CIFAR ResNet of `depth = 6n + 2` layers with the option-A shortcut.

    The model takes uint8 or float images in 0..255, NHWC, and normalises them itself.

    Args:
        depth: 20, 32, 44, 56, 110...
        num_classes: number of classes.
        classifier: "linear" or "cosine" (normed linear).
        input_shape: `(height, width, channels)` of the inputs.
        mean: per-channel mean of the training images, in 0..1.
        std: per-channel standard deviation of the training images, in 0..1.
        name: model name; defaults to `resnet{depth}`.
        logit_scale: append a learnable per-class logit scale (LWS) after the classifier.

    Returns:
        A functional `keras.Model` mapping images to logits (cosines for "cosine").

    Example:
    >>> model = cifar_resnet(32, 10)
    """
    if (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, 56...), got {depth}.")
    blocks_per_stage = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="images")
    x = blocks.preprocess(inputs, mean, std)
    x = blocks.conv(x, 16, 3, name="stem_conv")
    x = blocks.relu(blocks.batch_norm(x, name="stem_bn"))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, filters, strides, name=f"stage{stage + 1}_block{block + 1}")
    outputs = blocks.classifier_head(x, num_classes, classifier, logit_scale)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}")


@register_architecture("resnet32")
def resnet32(
    num_classes,
    classifier="linear",
    input_shape=(32, 32, 3),
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    logit_scale=False,
):
    """ResNet-32 for CIFAR (~0.46M parameters with a 10-way head).

    Args:
        num_classes: number of classes.
        classifier: "linear" or "cosine".
        input_shape: `(height, width, channels)`.
        mean: per-channel mean of the training images, in 0..1.
        std: per-channel standard deviation of the training images, in 0..1.
        logit_scale: append a learnable per-class logit scale (LWS) after the classifier.

    Example:
    >>> model = resnet32(100, classifier="cosine")
    """
    return cifar_resnet(32, num_classes, classifier, input_shape, mean, std, logit_scale=logit_scale)
