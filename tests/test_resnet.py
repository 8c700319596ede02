"""The ImageNet ResNets (ResNet-10, ResNet-50, ResNeXt-50 32x4d) against a functional torch forward of torchvision's layout."""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_lt.models import build
from keras_lt.models import resnet10
from keras_lt.models import resnet50
from keras_lt.models import resnext50
from tiny_run import parameter_count


def _params(model):
    """`{layer name: [torch tensors]}` in torch's layouts (OIHW kernels, (out, in) dense)."""
    out = {}
    for layer in model.layers:
        values = [torch.as_tensor(keras.ops.convert_to_numpy(w)) for w in layer.weights]
        if isinstance(layer, keras.layers.Conv2D):
            values = [values[0].permute(3, 2, 0, 1)]
        elif isinstance(layer, keras.layers.Dense):
            values = [values[0].T, values[1]]
        out[layer.name] = values
    return out


def _reference(params, images, counts, bottleneck, groups=1):
    """torchvision's ResNet forward (eval mode): stem, max-pool, stages, projection shortcuts, pool, fc."""

    def conv_bn(x, name, stride=1, padding=0, conv_groups=1):
        x = F.conv2d(x, params[name.replace("bn", "conv").replace("proj_conv", "proj")][0], stride=stride,
                     padding=padding, groups=conv_groups)
        gamma, beta, mean, var = params[name]
        return F.batch_norm(x, mean, var, gamma, beta, training=False, eps=1e-5)

    mean = torch.tensor([0.485, 0.456, 0.406]) * 255
    std = torch.tensor([0.229, 0.224, 0.225]) * 255
    x = ((images.float() - mean) / std).permute(0, 3, 1, 2)
    x = F.max_pool2d(F.relu(conv_bn(x, "stem_bn", 2, 3)), 3, 2, 1)
    for stage, count in enumerate(counts):
        for block in range(count):
            name = f"stage{stage + 1}_block{block + 1}"
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = conv_bn(x, f"{name}_proj_bn", stride) if f"{name}_proj" in params else x
            if bottleneck:
                y = F.relu(conv_bn(x, f"{name}_bn1"))
                y = F.relu(conv_bn(y, f"{name}_bn2", stride, 1, groups))
                y = conv_bn(y, f"{name}_bn3")
            else:
                y = conv_bn(F.relu(conv_bn(x, f"{name}_bn1", stride, 1)), f"{name}_bn2", 1, 1)
            x = F.relu(y + shortcut)
    weight, bias = params["classifier"]
    return x.mean((2, 3)) @ weight.T + bias


def _randomise_batch_norm(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.weights:
                low = 0.5 if "variance" in variable.path or "gamma" in variable.path else -0.2
                variable.assign(rng.uniform(low, low + 0.7, variable.shape).astype("float32"))


@pytest.mark.parametrize(
    "function, counts, bottleneck, groups",
    [(resnet10, (1, 1, 1, 1), False, 1), (resnext50, (3, 4, 6, 3), True, 32)],
)
def test_forward_equals_torchvision_layout(function, counts, bottleneck, groups):
    model = function(7, input_shape=(32, 32, 3))
    _randomise_batch_norm(model, 0)
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    expected = _reference(_params(model), torch.as_tensor(images), counts, bottleneck, groups)
    got = model(images, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected.detach().numpy(), rtol=2e-4, atol=2e-4)


def test_sizes_are_torchvisions():
    resnext = resnext50(1000, input_shape=(32, 32, 3))
    assert parameter_count(resnext.trainable_weights) == 25_028_904  # torchvision's resnext50_32x4d
    model = resnet10(1000, input_shape=(32, 32, 3))
    # torchvision's ResNet(BasicBlock, [1, 1, 1, 1]) counted by hand: stem conv + BN, then per stage
    # two 3x3 convs, two BNs and (stages 2-4) a 1x1 projection + BN; then the 512 x 1000 classifier.
    stem = 7 * 7 * 3 * 64 + 2 * 64
    stages = 2 * (9 * 64 * 64 + 2 * 64)
    for c_in, c in ((64, 128), (128, 256), (256, 512)):
        stages += 9 * c_in * c + 9 * c * c + 2 * 2 * c + c_in * c + 2 * c
    assert parameter_count(model.trainable_weights) == stem + stages + 512 * 1000 + 1000 == 5_418_792
    rebuilt = build(model.keras_lt_config["architecture"])
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


def test_resnet50_size():
    model = resnet50(1000, input_shape=(64, 64, 3))
    assert parameter_count(model.trainable_weights) == 25_557_032  # torchvision's resnet50
    assert model.keras_lt_config["architecture"]["name"] == "resnet50"


def test_convolutions_are_kaiming_normal_fan_out():
    kernel = resnet10(10).get_layer("stage4_block1_conv2").kernel  # 3 x 3, 512 -> 512
    std = float(np.std(keras.ops.convert_to_numpy(kernel)))
    assert std == pytest.approx(np.sqrt(2.0 / (3 * 3 * 512)), rel=0.02)
