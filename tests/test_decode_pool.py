"""Tests of keras_lt.data.decode_pool: batches of `transform(path, seed)` in order, loader reuse, thread decoding."""

import numpy as np
import pytest
import torch

from keras_lt.data.decode_pool import DecodePool
from keras_lt.errors import DataError

PATHS = [str(10 * i) for i in range(9)]
SHAPE = (2, 3, 2)  # tag's images
BATCHES = [[(i, 3 * b + 1) for i in range(3 * b, min(3 * b + 3, 8))] for b in range(3)]  # 8 items: 3, 3, 2


def tag(path, seed):
    """A 2 x 3 'image' whose first channel is its path's number and second its seed (picklable, for workers)."""
    image = np.zeros((2, 3, 2), np.uint8)
    image[..., 0] = int(path)
    image[..., 1] = seed
    return image


def expected(items):
    out = np.zeros((len(items), 2, 3, 2), np.uint8)
    for row, (index, seed) in enumerate(items):
        out[row, ..., 0] = 10 * index
        out[row, ..., 1] = seed
    return out


class Sequence:
    """`items_from`: the batches from `start` on, recording each start (each a new DataLoader)."""

    def __init__(self):
        self.starts = []

    def __call__(self, start):
        self.starts.append(start)
        return (BATCHES[b] for b in range(start, len(BATCHES)))


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_are_the_transforms_stacked_in_order(workers):
    pool = DecodePool(PATHS, tag, workers, SHAPE, prefetch=1)
    items_from = Sequence()
    for index in range(3):
        batch = pool.batch(index, items_from)
        assert batch.dtype == torch.uint8
        np.testing.assert_array_equal(batch.numpy(), expected(BATCHES[index]))
    assert items_from.starts == [0]  # consecutive indices: one loader
    pool.reset()


def test_any_other_index_or_a_reset_starts_a_new_loader_there():
    pool = DecodePool(PATHS, tag, 0, SHAPE)
    items_from = Sequence()
    pool.batch(0, items_from)
    np.testing.assert_array_equal(pool.batch(2, items_from).numpy(), expected(BATCHES[2]))  # skipped ahead
    np.testing.assert_array_equal(pool.batch(1, items_from).numpy(), expected(BATCHES[1]))  # went back
    np.testing.assert_array_equal(pool.batch(2, items_from).numpy(), expected(BATCHES[2]))  # the next one
    assert items_from.starts == [0, 2, 1]
    pool.reset()
    np.testing.assert_array_equal(pool.batch(0, items_from).numpy(), expected(BATCHES[0]))
    assert items_from.starts == [0, 2, 1, 0]


@pytest.mark.parametrize("workers", [0, 3])
def test_decode_gives_the_items_now_in_their_order(workers):
    items = [(8, 0), (2, 5), (8, 7), (0, 1)]
    pool = DecodePool(PATHS, tag, workers, SHAPE)
    out = pool.decode(items)
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), expected(items))
    np.testing.assert_array_equal(pool.decode(items[:1]).numpy(), expected(items[:1]))  # the thread pool, again


def unreadable(path, seed):
    """A transform that cannot read path "30" (picklable, for workers)."""
    if path == "30":
        raise DataError("cannot read image 30: image file is truncated")
    return tag(path, seed)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_file_is_its_one_line_error_from_any_worker(workers):
    pool = DecodePool(PATHS, unreadable, workers, SHAPE, prefetch=1)
    np.testing.assert_array_equal(pool.batch(0, Sequence()).numpy(), expected(BATCHES[0]))
    with pytest.raises(DataError) as error:
        pool.batch(1, Sequence())  # items 3, 4, 5: path "30"
    assert str(error.value) == "cannot read image 30: image file is truncated"  # not the worker's traceback
    with pytest.raises(DataError, match="^cannot read image 30: image file is truncated$"):
        pool.decode([(2, 0), (3, 0)])
    pool.reset()


@pytest.mark.parametrize("workers", [0, 2])
def test_an_empty_batch_is_an_empty_tensor_of_the_images_shape(workers):
    """A rank's share of an epoch's last batch may be empty (a multi-process run): no images, no error."""
    pool = DecodePool(PATHS, tag, workers, SHAPE, prefetch=1)
    empty = pool.batch(0, lambda start: iter([[], BATCHES[0]]))
    assert empty.dtype == torch.uint8 and tuple(empty.shape) == (0, *SHAPE)
    np.testing.assert_array_equal(pool.batch(1, None).numpy(), expected(BATCHES[0]))  # the loader goes on
    assert tuple(pool.decode([]).shape) == (0, *SHAPE)
    pool.reset()
