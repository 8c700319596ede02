"""`keras_lt.distributed.shard`: a rank's contiguous share of a global batch."""

import numpy as np
import pytest

from keras_lt.distributed import shard_bounds


@pytest.mark.parametrize("size, world", [(10, 4), (5, 2), (8, 2), (1, 3), (0, 2)])
def test_shards_are_numpy_array_split(size, world):
    expected = np.array_split(np.arange(size), world)
    for rank in range(world):
        start, stop = shard_bounds(size, rank, world)
        np.testing.assert_array_equal(np.arange(size)[start:stop], expected[rank])
