"""`keras_lt.distributed.sync_batch_norm`: SyncBatchNorm's arithmetic in one process, and the conversion of a model."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt import hub
from keras_lt import models
from keras_lt.distributed import convert_sync_batch_norm
from keras_lt.distributed import sync_batch_norm
from keras_lt.layers import BatchNorm


def test_sync_batch_norm_in_one_process_is_torch_batch_norm():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 4, 5, generator=generator, requires_grad=True)
    weight, bias = torch.rand(3, generator=generator), torch.rand(3, generator=generator)
    outputs, grads, stats = [], [], []
    for function in (torch.nn.functional.batch_norm, sync_batch_norm):
        mean, var = torch.zeros(3), torch.ones(3)
        kwargs = {"training": True} if function is torch.nn.functional.batch_norm else {}
        y = function(x, mean, var, weight, bias, momentum=0.1, eps=1e-5, **kwargs)
        (grad,) = torch.autograd.grad((y * torch.arange(y.numel()).view_as(y).sin()).sum(), x)
        outputs.append(y.detach())
        grads.append(grad)
        stats.append((mean, var))
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stats[1], stats[0])


@pytest.mark.parametrize("shape", [(5, 2), (3, 2, 4)])
def test_without_scale_and_shift_it_is_the_numpy_formula(shape):
    x = np.random.default_rng(1).normal(2.0, 3.0, shape)
    running_mean, running_var = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    mean_t, var_t = torch.tensor(running_mean), torch.tensor(running_var)
    y = sync_batch_norm(torch.tensor(x), mean_t, var_t, None, None, momentum=0.25, eps=1e-3).numpy()
    axes = (0, *range(2, len(shape)))
    n = x.size // shape[1]
    mean, var = x.mean(axes), x.var(axes)  # the biased variance normalises
    expand = (1, -1) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(y, (x - mean.reshape(expand)) / np.sqrt(var.reshape(expand) + 1e-3), rtol=1e-10)
    np.testing.assert_allclose(mean_t.numpy(), 0.75 * running_mean + 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(var_t.numpy(), 0.75 * running_var + 0.25 * var * n / (n - 1), rtol=1e-12)


def test_convert_switches_every_keras_lt_batch_norm_nested_or_not():
    inner = keras.Sequential([keras.Input((2, 3, 3)), BatchNorm(name="inner_bn")], name="block")
    inputs = keras.Input((2, 3, 3))
    x = BatchNorm(name="outer_bn")(inputs)
    x = keras.layers.BatchNormalization(axis=1, name="keras_bn")(inner(x))
    network = keras.Model(inputs, x)
    twin = keras.models.clone_model(network)
    twin.set_weights(network.get_weights())
    assert convert_sync_batch_norm(network) == 2
    assert network.get_layer("outer_bn").sync_statistics and inner.get_layer("inner_bn").sync_statistics
    assert not hasattr(network.get_layer("keras_bn"), "sync_statistics")  # Keras' own BatchNormalization: left alone
    images = np.random.default_rng(0).normal(size=(4, 2, 3, 3)).astype("float32")
    np.testing.assert_array_equal(  # one process: the same training-mode output as without it
        keras.ops.convert_to_numpy(network(images, training=True)), keras.ops.convert_to_numpy(twin(images, training=True))
    )


def test_a_checkpoint_of_a_converted_model_loads_as_a_plain_model(tmp_path, tiny_architecture):
    network = models.build({"name": tiny_architecture, "num_classes": 3, "input_shape": [8, 8, 3]})
    assert convert_sync_batch_norm(network) > 0
    hub.save_pretrained(network, str(tmp_path / "ckpt"), class_names=["a", "b", "c"])
    loaded = hub.from_pretrained(str(tmp_path / "ckpt"))
    norms = [layer for layer in loaded._flatten_layers() if isinstance(layer, BatchNorm)]
    assert len(norms) == convert_sync_batch_norm(network) and not any(layer.sync_statistics for layer in norms)


def test_a_converted_model_saved_by_keras_loads_with_keras(tmp_path):
    inputs = keras.Input((2, 3, 3))
    network = keras.Model(inputs, BatchNorm()(inputs))
    convert_sync_batch_norm(network)
    network.save(tmp_path / "model.keras")  # Keras' `synchronized` (TensorFlow-only) must stay False in the config
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert not loaded.layers[-1].get_config()["synchronized"] and not loaded.layers[-1].sync_statistics
