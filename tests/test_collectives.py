"""`keras_lt.distributed.collectives` in one process: each is a no-op (their multi-rank results: tests/test_distributed.py)."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import torch

from keras_lt.distributed import all_gather
from keras_lt.distributed import all_reduce_sum
from keras_lt.distributed import barrier
from keras_lt.distributed import broadcast
from keras_lt.distributed import broadcast_object
from keras_lt.distributed import broadcast_variables


def test_one_process_gets_its_own_values_back():
    tensor = torch.arange(6.0).reshape(3, 2)
    assert all_reduce_sum(tensor) is tensor
    assert all_gather(tensor) is tensor
    assert broadcast(tensor) is tensor
    value = {"rank": 0}
    assert broadcast_object(value) is value
    variables = [keras.Variable(np.full((2, 2), 4.0)), keras.Variable(np.arange(3, dtype="int32"), trainable=False)]
    broadcast_variables(variables)
    broadcast_variables([])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variables[0]), np.full((2, 2), 4.0))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variables[1]), [0, 1, 2])
    assert barrier() is None
    np.testing.assert_array_equal(tensor.numpy(), np.arange(6.0).reshape(3, 2))
