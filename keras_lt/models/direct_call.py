"""Runs a functional network's layers by their `call`, without `Layer.__call__`'s bookkeeping."""

import functools
import inspect
import operator
import typing
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
    precision, a layer with an activity regulariser, inputs of another shape than the model's) goes
    through `network(...)` unchanged, with Keras' checks and losses. The results, BatchNorm statistics and
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
    if not _direct_callable(network) or not _fits_input(network, inputs):
        return network(inputs, training=training)  # Keras' own checks: its error for inputs of another shape
    steps, input_id, output_ids = _plan(network)
    tensors = {input_id: keras.ops.cast(inputs, "float32")}
    for step in steps:
        args, kwargs = step.fill(tensors)
        result = step.call(*args, training=training, **kwargs) if step.takes_training else step.call(*args, **kwargs)
        if len(step.output_ids) == 1 and not isinstance(result, (list, tuple, dict)):
            tensors[step.output_ids[0]] = result
        else:
            tensors.update(zip(step.output_ids, keras.tree.flatten(result)))
        for tensor_id in step.dead:
            del tensors[tensor_id]
    return keras.tree.pack_sequence_as(network._outputs_struct, [tensors[i] for i in output_ids])


class _Step(typing.NamedTuple):
    """One layer call of a plan: its `call`, whether it takes `training`, `fill(tensors) -> (args, kwargs)`,
    the ids of the tensors it writes, and those it reads last."""

    call: typing.Callable
    takes_training: bool
    fill: typing.Callable
    output_ids: list
    dead: list


_PLANS = weakref.WeakKeyDictionary()


def _plan(network):
    """The walk of `Functional._run_through_graph` (deepest nodes first) as `_Step`s; computed once per network."""
    if network not in _PLANS:
        available = {id(network.inputs[0])}
        nodes = []
        for depth in sorted(network._nodes_by_depth, reverse=True):
            for node in network._nodes_by_depth[depth]:
                if not node.operation or node.is_input or any(id(x) not in available for x in node.input_tensors):
                    continue
                nodes.append(node)
                available.update(id(x) for x in node.outputs)
        output_ids = [id(x) for x in keras.tree.flatten(network.outputs)]
        last_reader = {}
        for index, node in enumerate(nodes):
            for x in node.input_tensors:
                last_reader[id(x)] = index
        dead = [[] for _ in nodes]
        for tensor_id, index in last_reader.items():
            if tensor_id not in output_ids:
                dead[index].append(tensor_id)
        steps = []
        for node, node_dead in zip(nodes, dead):
            operation = network._get_operation_for_node(node) if hasattr(network, "_get_operation_for_node") \
                else node.operation
            call = operation.call
            # A training argument recorded in the graph wins over the pass's, as in `Layer.__call__`.
            takes_training = _takes_training(getattr(call, "__func__", call)) and "training" not in node.arguments.kwargs
            steps.append(_Step(call, takes_training, _filler(node.arguments), [id(x) for x in node.outputs], node_dead))
        _PLANS[network] = (steps, id(network.inputs[0]), output_ids)
    return _PLANS[network]


def _filler(arguments):
    """`tensors -> (args, kwargs)` of a node: Keras' `SymbolicArguments.fill_in` without its per-call tree walk,
    for arguments that are tensors, flat lists or tuples of tensors, or constants (anything else: `fill_in`)."""
    args = [_slot(x) for x in arguments.args]
    kwargs = {name: _slot(x) for name, x in arguments.kwargs.items()}
    if None in args or None in kwargs.values():
        return arguments.fill_in
    return lambda tensors: ([get(tensors) for get in args], {name: get(tensors) for name, get in kwargs.items()})


def _slot(x):
    """`tensors -> value` of one argument, or None for a nested structure."""
    if isinstance(x, keras.KerasTensor):
        return operator.itemgetter(id(x))
    if type(x) in (list, tuple) and all(isinstance(e, keras.KerasTensor) for e in x):
        kind, ids = type(x), [id(e) for e in x]
        return lambda tensors: kind(tensors[i] for i in ids)
    if not keras.tree.is_nested(x):
        return lambda tensors: x
    return None


@functools.lru_cache(maxsize=None)
def _takes_training(call):
    return "training" in inspect.signature(call).parameters


def _direct_callable(network):
    return (
        isinstance(network, keras.Model)
        and hasattr(network, "_run_through_graph")
        and hasattr(network, "_nodes_by_depth")
        and network.built
        and len(network.inputs) == 1
        and all(layer.compute_dtype == "float32" for layer in network.layers)
        and not any(getattr(layer, "activity_regularizer", None) for layer in network.layers)  # __call__ adds it
    )


def _fits_input(network, inputs):
    """Whether `inputs` has the shape of the network's input (its known sides), as `__call__` would check."""
    expected = network.inputs[0].shape[1:]
    shape = tuple(inputs.shape[1:])
    return len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
