"""Runs a functional network's layers by their `call`, without `Layer.__call__`'s bookkeeping."""

import functools
import inspect
import weakref

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

    Each layer output is dropped as soon as the last layer that reads it has run (Keras' walk keeps
    every one until the pass ends): without gradients a pass holds a few feature maps instead of all
    of them, which is what bounds prediction's batch size (`keras_lt.inference`); in training,
    autograd keeps what the backward pass needs either way.

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
    steps, input_id, output_ids = _plan(network)
    tensors = {input_id: keras.ops.cast(inputs, "float32")}
    for node, operation, dead in steps:
        args, kwargs = node.arguments.fill_in(tensors)
        for x, y in zip(node.outputs, keras.tree.flatten(_call_of(operation, training)(*args, **kwargs))):
            tensors[id(x)] = y
        for tensor_id in dead:
            del tensors[tensor_id]
    return keras.tree.pack_sequence_as(network._outputs_struct, [tensors[i] for i in output_ids])


_PLANS = weakref.WeakKeyDictionary()


def _plan(network):
    """The walk of `Functional._run_through_graph` (deepest nodes first), each step with the ids of
    the tensors it reads last; computed once per network."""
    if network not in _PLANS:
        available = {id(network.inputs[0])}
        steps = []
        for depth in sorted(network._nodes_by_depth, reverse=True):
            for node in network._nodes_by_depth[depth]:
                if not node.operation or node.is_input or any(id(x) not in available for x in node.input_tensors):
                    continue
                operation = network._get_operation_for_node(node) if hasattr(network, "_get_operation_for_node") \
                    else node.operation
                steps.append((node, operation, []))
                available.update(id(x) for x in node.outputs)
        output_ids = [id(x) for x in keras.tree.flatten(network.outputs)]
        last_reader = {}
        for index, (node, _, _) in enumerate(steps):
            for x in node.input_tensors:
                last_reader[id(x)] = index
        for tensor_id, index in last_reader.items():
            if tensor_id not in output_ids:
                steps[index][2].append(tensor_id)
        _PLANS[network] = (steps, id(network.inputs[0]), output_ids)
    return _PLANS[network]


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
