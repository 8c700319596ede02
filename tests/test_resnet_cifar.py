"""Tests keras_lt.models.resnet_cifar: ResNet-32's size, the LDAM-DRW torch forward, its init, depth and name."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_lt.models import ARCHITECTURES
from keras_lt.models import build
from keras_lt.models import cifar_resnet
from keras_lt.models import resnet32
from tiny_run import parameter_count


def numpy(x):
    return (x.value if isinstance(x, keras.Variable) else x).detach().cpu().numpy()


def test_resnet32_size_output_and_rebuild():
    model = resnet32(10)
    # LDAM-DRW's resnet32: 464,154 parameters plus 2 x 1,136 BatchNorm running statistics
    assert parameter_count(model.trainable_weights) == 464_154
    assert model.count_params() == 466_426
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    assert tuple(model.predict(images, verbose=0).shape) == (4, 10)
    architecture = model.keras_lt_config["architecture"]
    assert architecture["name"] == "resnet32" and architecture["input_shape"] == [32, 32, 3]
    rebuilt = build(architecture)
    assert [(w.path, w.shape) for w in rebuilt.weights] == [(w.path, w.shape) for w in model.weights]


def test_cifar_resnet_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="depth 6n \\+ 2"):
        cifar_resnet(33, 10)


def test_kaiming_normal_init():
    keras.utils.set_random_seed(0)
    model = resnet32(10)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith("stage3"):
            kernel = numpy(layer.kernel)  # (3, 3, in, 64)
            fan_in = np.prod(kernel.shape[:3])
            np.testing.assert_allclose(kernel.std(), np.sqrt(2.0 / fan_in), rtol=0.03)
            assert abs(kernel.mean()) < 0.003
    classifier = numpy(model.get_layer("classifier").kernel)  # (64, 10)
    np.testing.assert_allclose(classifier.std(), np.sqrt(2.0 / 64), rtol=0.15)


def torch_cifar_resnet(x, params, blocks_per_stage, training, classifier):
    """LDAM-DRW's `resnet_cifar.py` forward (BasicBlock, option A) with torch ops, NCHW input
    normalised by the caller; `params[name]` are the Keras weights converted to torch layouts."""

    def bn(y, name):
        return F.batch_norm(y, params[f"{name}/moving_mean"].clone(), params[f"{name}/moving_variance"].clone(),
                            params[f"{name}/gamma"], params[f"{name}/beta"], training=training, eps=1e-5)

    def conv(y, name, stride):
        return F.conv2d(y, params[f"{name}/kernel"], stride=stride, padding=1)

    out = F.relu(bn(conv(x, "stem_conv", 1), "stem_bn"))
    in_planes = 16
    for stage, planes in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            name = f"stage{stage + 1}_block{block + 1}"
            y = F.relu(bn(conv(out, f"{name}_conv1", stride), f"{name}_bn1"))
            y = bn(conv(y, f"{name}_conv2", 1), f"{name}_bn2")
            shortcut = out
            if stride != 1 or in_planes != planes:
                shortcut = F.pad(out[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0)
            out = F.relu(y + shortcut)
            in_planes = planes
    features = F.avg_pool2d(out, out.size()[3]).view(out.size(0), -1)
    if classifier == "cosine":
        return F.normalize(features, dim=1).mm(F.normalize(params["classifier/kernel"], dim=0))
    return F.linear(features, params["classifier/kernel"].T, params["classifier/bias"])


def torch_params(model):
    """Keras weights by path, conv kernels moved from (kh, kw, in, out) to torch's (out, in, kh, kw)."""
    params = {}
    for w in model.weights:
        value = torch.from_numpy(numpy(w).copy())
        params[w.path] = value.permute(3, 2, 0, 1).contiguous() if value.ndim == 4 else value
    return params


@pytest.mark.parametrize("classifier", ["linear", "cosine"])
def test_forward_equals_the_ldam_torch_resnet(classifier):
    keras.utils.set_random_seed(2)
    mean, std = (0.49, 0.48, 0.45), (0.2, 0.2, 0.2)
    model = cifar_resnet(14, 5, classifier, input_shape=(8, 8, 3), mean=mean, std=std)
    rng = np.random.default_rng(3)
    for w in model.non_trainable_weights:  # running stats away from their 0 / 1 initial values
        w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    images = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    x = torch.from_numpy(((images / 255.0 - np.array(mean)) / np.array(std)).transpose(0, 3, 1, 2)).float()
    params = torch_params(model)
    for training in (False, True):
        expected = torch_cifar_resnet(x, params, 2, training, classifier).numpy()
        got = numpy(model(images, training=training))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_stages_shortcuts_name_and_the_registered_resnet32():
    model = cifar_resnet(20, 3, input_shape=(8, 8, 3))  # depth 20 = 6 x 3 + 2: three blocks a stage
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.endswith("_add")] == [f"stage{s}_block{b}_add" for s in (1, 2, 3) for b in (1, 2, 3)]
    # option A (subsample + zero channels) where a stage starts with stride 2 and more channels
    assert [n for n in names if n.endswith("_shortcut")] == ["stage2_block1_shortcut", "stage3_block1_shortcut"]
    assert model.name == "resnet20" and cifar_resnet(8, 3, input_shape=(8, 8, 3), name="mine").name == "mine"
    assert ARCHITECTURES["resnet32"] is resnet32
    lws = resnet32(3, input_shape=(8, 8, 3), logit_scale=True)
    assert lws.name == "resnet32" and lws.layers[-1].name == "logit_scale"
    assert lws.keras_lt_config["architecture"]["logit_scale"] is True
