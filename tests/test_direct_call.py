"""direct_call: the same outputs, BatchNorm statistics and gradients as `network(...)`."""

import weakref

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.models import direct_call
from keras_lt.models import resnet32


def _images(seed, n=4):
    return torch.as_tensor(np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))


def _twin_networks():
    a = resnet32(10)
    b = resnet32(10)
    b.set_weights(a.get_weights())
    return a, b


@pytest.mark.parametrize("training", [False, True])
def test_outputs_and_batchnorm_statistics_match_keras_call(training):
    reference, direct = _twin_networks()
    x = _images(0)
    expected = reference(x, training=training)
    got = direct_call(direct, x, training=training)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    for v_ref, v in zip(reference.non_trainable_variables, direct.non_trainable_variables):
        np.testing.assert_allclose(np.asarray(v), np.asarray(v_ref), rtol=1e-6, atol=1e-6)


def test_gradients_match_keras_call():
    reference, direct = _twin_networks()
    x = _images(1)
    for network, forward in ((reference, lambda: reference(x, training=True)),
                             (direct, lambda: direct_call(direct, x, training=True))):
        network.zero_grad()
        forward().square().sum().backward()
    for v_ref, v in zip(reference.trainable_variables, direct.trainable_variables):
        np.testing.assert_allclose(v.value.grad.numpy(), v_ref.value.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_a_subclassed_model_goes_through_its_own_call():
    class Doubler(keras.Model):
        def call(self, inputs, training=False):
            return inputs * 2.0

    x = torch.ones(2, 3)
    np.testing.assert_array_equal(direct_call(Doubler(), x).numpy(), 2.0 * np.ones((2, 3)))


def test_same_values_bit_for_bit_as_keras_walk_of_the_graph():
    network = resnet32(10)
    x = _images(2)
    with torch.no_grad():
        keras_walk = network._run_through_graph([x.float()], operation_fn=lambda op: op.call)
        np.testing.assert_array_equal(direct_call(network, x).numpy(), keras_walk.numpy())


@keras.saving.register_keras_serializable(package="keras_lt_tests")
class Probe(keras.layers.Layer):
    """Adds 1; records its output (weakly) and how many probes' outputs are alive when it runs."""

    outputs = []
    alive_at_call = []

    def call(self, inputs):
        Probe.alive_at_call.append(sum(ref() is not None for ref in Probe.outputs))
        output = inputs + 1.0
        Probe.outputs.append(weakref.ref(output))
        return output


def test_a_layer_output_is_dropped_after_its_last_reader():
    """A chain of probes with a skip connection over it: only the skip and the current input stay alive."""
    inputs = keras.Input((3,))
    skip = Probe()(inputs)
    x = skip
    for _ in range(5):
        x = Probe()(x)
    network = keras.Model(inputs, keras.layers.Add()([x, skip]))
    Probe.outputs.clear()
    Probe.alive_at_call.clear()
    with torch.no_grad():
        out = direct_call(network, torch.zeros(2, 3))
    np.testing.assert_array_equal(out.numpy(), np.full((2, 3), 7.0))
    # Keras' own walk would hold 0, 1, 2, ... 5 earlier outputs; here the skip and the chain's last one.
    assert Probe.alive_at_call == [0, 1, 2, 2, 2, 2]


def test_inputs_of_another_size_get_keras_own_error():
    """A 32x32 model fed 16x16 images: `__call__` refuses them, the direct walk ran them through global pooling."""
    with pytest.raises(ValueError, match="(?i)shape"):
        direct_call(resnet32(10), _images(2)[:, :16, :16], training=True)


def test_an_activity_regulariser_is_kept_by_going_through_keras_call():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activity_regularizer=keras.regularizers.L2(1.0))(inputs)
    network = keras.Model(inputs, outputs)
    direct_call(network, torch.ones(4, 3), training=True)
    assert len(network.losses) == 1  # recorded by Layer.__call__, as in `network(x)`
