"""ResNets for ImageNet-size inputs (torchvision's v1.5 layout): ResNet-10, ResNet-50, ResNeXt-50 32x4d."""

import keras

from keras_lt.models import blocks
from keras_lt.models.registry import register_architecture

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INIT = "fan_out"  # torchvision's (and classifier-balancing's) Kaiming mode for these convolutions


def _shortcut(x, channels, strides, name):
    if strides == 1 and x.shape[blocks.CHANNEL_AXIS] == channels:
        return x
    y = blocks.conv(x, channels, 1, strides, name=f"{name}_proj", mode=INIT)
    return blocks.batch_norm(y, name=f"{name}_proj_bn")


def _conv_bn(x, filters, kernel_size, strides, name, index, groups=1):
    y = blocks.conv(x, filters, kernel_size, strides, name=f"{name}_conv{index}", groups=groups, mode=INIT)
    return blocks.batch_norm(y, name=f"{name}_bn{index}")


def _basic(x, filters, strides, name, groups, width_per_group):
    """Two 3x3 convolutions (ResNet-10/18/34's block; expansion 1)."""
    shortcut = _shortcut(x, filters, strides, name)
    y = blocks.relu(_conv_bn(x, filters, 3, strides, name, 1))
    y = _conv_bn(y, filters, 3, 1, name, 2)
    return blocks.relu(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


def _bottleneck(x, filters, strides, name, groups, width_per_group):
    """1x1, grouped 3x3 (the stride), 1x1 x4 (expansion 4); width `filters * width_per_group / 64 * groups`."""
    width = int(filters * width_per_group / 64) * groups
    shortcut = _shortcut(x, 4 * filters, strides, name)
    y = blocks.relu(_conv_bn(x, width, 1, 1, name, 1))
    y = blocks.relu(_conv_bn(y, width, 3, strides, name, 2, groups))
    y = _conv_bn(y, 4 * filters, 1, 1, name, 3)
    return blocks.relu(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


def imagenet_resnet(
    block, counts, num_classes, classifier="linear", input_shape=(224, 224, 3), mean=IMAGENET_MEAN,
    std=IMAGENET_STD, logit_scale=False, groups=1, width_per_group=64, name="resnet",
):
    """An ImageNet ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages (64..512 filters), pooled classifier.

    As torchvision's `ResNet`: the stride on the 3x3 convolution of each stage's first block,
    projection shortcuts (1x1 conv + BN), convolutions initialised Kaiming-normal with fan-out,
    BatchNorm with torch's epsilon and momentum, gamma 1 (`keras_lt.models.blocks`).

    Args:
        block: "basic" or "bottleneck".
        counts: blocks per stage, e.g. `(3, 4, 6, 3)`.
        num_classes: number of classes.
        classifier, input_shape, mean, std, logit_scale: as the registered architectures' (`resnet50`).
        groups of the 3x3 convolutions (ResNeXt's cardinality).
        width_per_group: channels per group at the first stage (ResNeXt's bottleneck width).
        name: model name.

    Returns:
        A functional `keras.Model` mapping uint8 or float images in 0..255, NHWC, to logits.

    Example:
    >>> model = imagenet_resnet("basic", (2, 2, 2, 2), 1000, name="resnet18")
    """
    unit = {"basic": _basic, "bottleneck": _bottleneck}[block]
    inputs = keras.Input(input_shape, name="images")
    x = blocks.preprocess(inputs, mean, std)
    x = blocks.relu(blocks.batch_norm(blocks.conv(x, 64, 7, 2, name="stem_conv", mode=INIT), name="stem_bn"))
    x = keras.layers.ZeroPadding2D(1, data_format=blocks.DATA_FORMAT)(x)
    x = keras.layers.MaxPooling2D(3, 2, data_format=blocks.DATA_FORMAT)(x)
    for stage, (filters, count) in enumerate(zip((64, 128, 256, 512), counts)):
        for index in range(count):
            strides = 2 if stage > 0 and index == 0 else 1
            x = unit(x, filters, strides, f"stage{stage + 1}_block{index + 1}", groups, width_per_group)
    outputs = blocks.classifier_head(x, num_classes, classifier, logit_scale)
    return keras.Model(inputs, outputs, name=name)


_ARGS = """

    Args:
        num_classes: number of classes.
        classifier: "linear" or "cosine".
        input_shape: `(height, width, channels)`.
        mean: per-channel mean in 0..1.
        std: per-channel standard deviation in 0..1.
        logit_scale: append a learnable per-class logit scale (LWS) after the classifier.

    Example:
    >>> model = {name}(1000)
    """


def _architecture(name, summary, block, counts, groups=1, width_per_group=64):
    """Registers `name`: `imagenet_resnet` with these blocks, taking images in 0..255, NHWC."""

    def architecture(
        num_classes, classifier="linear", input_shape=(224, 224, 3), mean=IMAGENET_MEAN, std=IMAGENET_STD,
        logit_scale=False,
    ):
        return imagenet_resnet(
            block, counts, num_classes, classifier, input_shape, mean, std, logit_scale, groups, width_per_group, name
        )

    architecture.__name__ = architecture.__qualname__ = name
    architecture.__doc__ = summary + _ARGS.format(name=name)
    return register_architecture(name)(architecture)


resnet10 = _architecture("resnet10", "ResNet-10: one basic block per stage (OLTR's and BALMS' small ImageNet-LT baseline).", "basic", (1, 1, 1, 1))
resnet50 = _architecture("resnet50", "ResNet-50 (ImageNet-LT, iNaturalist 2018).", "bottleneck", (3, 4, 6, 3))
resnext50 = _architecture(
    "resnext50", "ResNeXt-50 32x4d (the ImageNet-LT backbone of the decoupling, KPS and LCReg tables).",
    "bottleneck", (3, 4, 6, 3), groups=32, width_per_group=4,
)
