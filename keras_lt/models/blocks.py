"""Shared building blocks of the ResNets: conv + BN with the reference PyTorch conventions."""

import keras

from keras_lt.errors import UnknownModelError
from keras_lt.layers import BatchNorm
from keras_lt.layers import LogitScale
from keras_lt.layers import NormedLinear

DATA_FORMAT = "channels_first"  # torch's native layout: no transposes around every conv
CHANNEL_AXIS = 1


def kaiming_normal(mode="fan_in"):
    """Kaiming-normal, ReLU gain, untruncated: `torch.nn.init.kaiming_normal_(mode=mode)`.

    "fan_in" as the CIFAR ResNets of LDAM-DRW; "fan_out" as torchvision's ImageNet ResNets (and
    classifier-balancing's ResNeXt) initialise their convolutions.
    """
    return keras.initializers.VarianceScaling(2.0, mode, "untruncated_normal")


def conv(x, filters, kernel_size, strides=1, name=None, groups=1, mode="fan_in"):
    """A bias-free convolution with PyTorch's padding, `groups` groups and Kaiming-normal (`mode`) weights."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same" if strides == 1 else "valid",
        use_bias=False,
        groups=groups,
        data_format=DATA_FORMAT,
        kernel_initializer=kaiming_normal(mode),
        name=name,
    )(_pad_for_stride(x, kernel_size, strides))


def _pad_for_stride(x, kernel_size, strides):
    """Symmetric `kernel_size // 2` padding for strided convs, as PyTorch's `padding=k // 2`."""
    if strides == 1:
        return x
    p = kernel_size // 2
    return keras.layers.ZeroPadding2D(p, data_format=DATA_FORMAT)(x) if p else x


def batch_norm(x, name=None, gamma_initializer="ones"):
    """BatchNorm with torch's epsilon 1e-5 and momentum 0.1 (Keras momentum 0.9)."""
    return BatchNorm(axis=CHANNEL_AXIS, gamma_initializer=gamma_initializer, name=name)(x)


def relu(x):
    return keras.layers.ReLU()(x)


def preprocess(inputs, mean, std):
    """Float cast + per-channel normalisation (inputs in 0..255, NHWC), then NCHW for the convs."""
    x = keras.layers.Normalization(
        axis=-1,
        mean=[255.0 * m for m in mean],
        variance=[(255.0 * s) ** 2 for s in std],
        name="normalize",
    )(inputs)
    return keras.layers.Permute((3, 1, 2), name="to_channels_first")(x)


def classifier_head(x, num_classes, classifier, logit_scale=False):
    """Global average pooling and a "linear" (Dense) or "cosine" (NormedLinear) classifier.

    With `logit_scale`, a learnable per-class scale (LWS, a `LogitScale` named "logit_scale")
    multiplies the classifier's logits.
    """
    x = keras.layers.GlobalAveragePooling2D(data_format=DATA_FORMAT, name="pool")(x)
    if classifier == "linear":
        logits = keras.layers.Dense(
            num_classes, kernel_initializer=kaiming_normal(), name="classifier"
        )(x)
    elif classifier == "cosine":
        logits = NormedLinear(num_classes, name="classifier")(x)
    else:
        raise UnknownModelError(f"classifier must be 'linear' or 'cosine', got '{classifier}'.")
    return LogitScale(num_classes, name="logit_scale")(logits) if logit_scale else logits
