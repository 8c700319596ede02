"""Backbones with their classifier heads; normalisation is built into every model.

Every model remembers its architecture (`model.keras_lt_config`), and `build(architecture)` makes a
model from that dict, as stored in a checkpoint's `config.json`.
"""

from keras_lt.models.direct_call import direct_call
from keras_lt.models.rebuild import rebuild
from keras_lt.models.registry import ARCHITECTURES
from keras_lt.models.registry import build
from keras_lt.models.registry import set_output_scale
from keras_lt.models.resnet import resnet10
from keras_lt.models.resnet import resnet50
from keras_lt.models.resnet import resnext50
from keras_lt.models.resnet_cifar import cifar_resnet
from keras_lt.models.resnet_cifar import resnet32

__all__ = [
    "ARCHITECTURES", "build", "cifar_resnet", "direct_call", "rebuild", "resnet10", "resnet32", "resnet50",
    "resnext50", "set_output_scale",
]
