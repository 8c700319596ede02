"""Runs a functional network's layers by their `call`, without `Layer.__call__`'s bookkeeping."""

import functools
import inspect

import keras


def direct_call(network, inputs, training=False):
    """`network(inputs, training=training)` for a built functional model, with less Python per layer.

    `Layer.__call__` re-checks shapes, dtypes, masks, name scopes and the build state at every call;
    in a 100-layer ResNet that bookkeeping is most of a small-batch step, and on a GPU it is what the
    device waits for. A built functional model whose layers all compute in float32 needs none of it:
    this walks the same graph (`Functional._run_through_graph`) calling each layer's `call` directly,
    passing `training` to the layers that take it, after one cast of the inputs to float32 (what
    `__call__` does for the first layer). Anything else (a subclassed model, an unbuilt one, mixed
    precision) goes through `network(...)` unchanged. The results, BatchNorm statistics and
    gradients are those of `network(...)` (tests/test_direct_call.py).

    Args:
        network: a `keras.Model`.
        inputs: a tensor, the model's only input.
        training: training mode (BatchNorm batch statistics, dropout).

    Returns:
        The model's output.

    Example:
    >>> logits = direct_call(keras_lt.models.resnet32(10), images, training=True)
    """
    if not _direct_callable(network):
        return network(inputs, training=training)
    inputs = keras.ops.cast(inputs, "float32")
    return network._run_through_graph([inputs], operation_fn=lambda op: _call_of(op, training))


@functools.lru_cache(maxsize=None)
def _takes_training(call):
    return "training" in inspect.signature(call).parameters


def _call_of(layer, training):
    call = layer.call
    return functools.partial(call, training=training) if _takes_training(getattr(call, "__func__", call)) else call


def _direct_callable(network):
    return (
        isinstance(network, keras.Model)
        and hasattr(network, "_run_through_graph")
        and hasattr(network, "_nodes_by_depth")
        and network.built
        and len(network.inputs) == 1
        and all(layer.compute_dtype == "float32" for layer in network.layers)
    )
