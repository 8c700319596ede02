"""`keras_lt.distributed.gradients`: the batch weight, the gradient mean and its buckets, in one process."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import torch

from keras_lt.distributed import batch_weight
from keras_lt.distributed import synchronize_gradients
from keras_lt.distributed.gradients import _buckets


def test_buckets_keep_order_and_dtype():
    tensors = [torch.zeros(100), torch.zeros(300), torch.zeros(50, dtype=torch.float64), torch.zeros(10)]
    buckets = _buckets(tensors, bucket_bytes=1600)
    assert [i for bucket in buckets for i in bucket] == [0, 1, 2, 3]
    assert buckets == [[0, 1], [2], [3]]


def test_a_tensor_larger_than_a_bucket_gets_its_own():
    tensors = [torch.zeros(2), torch.zeros(10), torch.zeros(1), torch.zeros(1)]  # 8, 40, 4, 4 bytes
    assert _buckets(tensors, bucket_bytes=16) == [[0], [1], [2, 3]]
    assert _buckets([], bucket_bytes=16) == []


def test_one_process_weighs_one_and_leaves_the_gradients():
    assert batch_weight(7, torch.device("cpu")) == 1.0
    variables = [keras.Variable(np.zeros(3, "float32")), keras.Variable(np.zeros(2, "float32"))]
    grad = torch.tensor([1.0, -2.0, 3.0])
    variables[0].value.grad = grad
    synchronize_gradients(variables, bucket_bytes=4)
    assert variables[0].value.grad is grad and variables[1].value.grad is None
    np.testing.assert_array_equal(grad.numpy(), [1.0, -2.0, 3.0])
