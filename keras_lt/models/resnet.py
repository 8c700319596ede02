"""ResNet-50 for ImageNet-size inputs (torchvision's v1.5 layout: stride on the 3x3 conv)."""

import keras

from keras_lt.models import blocks
from keras_lt.models.registry import register_architecture

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _bottleneck(x, filters, strides, name):
    shortcut = x
    if strides != 1 or x.shape[blocks.CHANNEL_AXIS] != 4 * filters:
        shortcut = blocks.conv(x, 4 * filters, 1, strides, name=f"{name}_proj")
        shortcut = blocks.batch_norm(shortcut, name=f"{name}_proj_bn")
    y = blocks.relu(blocks.batch_norm(blocks.conv(x, filters, 1, name=f"{name}_conv1"), name=f"{name}_bn1"))
    y = blocks.relu(
        blocks.batch_norm(blocks.conv(y, filters, 3, strides, name=f"{name}_conv2"), name=f"{name}_bn2")
    )
    y = blocks.batch_norm(blocks.conv(y, 4 * filters, 1, name=f"{name}_conv3"), name=f"{name}_bn3")
    return blocks.relu(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


@register_architecture("resnet50")
def resnet50(
    num_classes,
    classifier="linear",
    input_shape=(224, 224, 3),
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    logit_scale=False,
):
    """ResNet-50 (ImageNet-LT, iNaturalist) taking uint8 or float images in 0..255, NHWC.

    Args:
        num_classes: number of classes.
        classifier: "linear" or "cosine".
        input_shape: `(height, width, channels)`.
        mean: per-channel mean in 0..1.
        std: per-channel standard deviation in 0..1.
        logit_scale: append a learnable per-class logit scale (LWS) after the classifier.

    Example:
    >>> model = resnet50(1000)
    """
    inputs = keras.Input(input_shape, name="images")
    x = blocks.preprocess(inputs, mean, std)
    x = blocks.relu(blocks.batch_norm(blocks.conv(x, 64, 7, 2, name="stem_conv"), name="stem_bn"))
    x = keras.layers.ZeroPadding2D(1, data_format=blocks.DATA_FORMAT)(x)
    x = keras.layers.MaxPooling2D(3, 2, data_format=blocks.DATA_FORMAT)(x)
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for block in range(count):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _bottleneck(x, filters, strides, name=f"stage{stage + 1}_block{block + 1}")
    outputs = blocks.classifier_head(x, num_classes, classifier, logit_scale)
    return keras.Model(inputs, outputs, name="resnet50")
