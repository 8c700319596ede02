"""Tests of keras_lt.data.eval_batches: every image file once, in order, as its evaluation view."""

import os

import numpy as np
import pytest

from imagenet_lt_tree import write_tree
from keras_lt.data import EvalBatches
from keras_lt.data import ImageFiles
from keras_lt.data.eval_transform import EvalTransform


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tree's 6 test images (JPEGs of several sizes, one of them 300 x 200) as 16-pixel ImageFiles."""
    root = tmp_path_factory.mktemp("tree")
    listed = write_tree(root)
    return ImageFiles([os.path.join(root, path) for path, _ in listed["test"]], image_size=16, workers=0)


def test_the_batches_are_the_evaluation_views_in_order(files):
    batches = EvalBatches(files, batch_size=4)
    assert len(batches) == 2
    got = [batches[i] for i in range(len(batches))]
    assert all(isinstance(batch, tuple) and len(batch) == 1 for batch in got)  # images only, for `predict`
    assert [batch[0].shape for batch in got] == [(4, 16, 16, 3), (2, 16, 16, 3)]
    views = np.stack([EvalTransform(16)(path) for path in files.paths])
    np.testing.assert_array_equal(np.concatenate([batch[0].numpy() for batch in got]), views)


def test_any_order_of_access_and_a_new_epoch_give_the_same_batches(files):
    batches = EvalBatches(files, batch_size=3.0)
    assert batches.batch_size == 3 and len(batches) == 2
    views = np.stack([EvalTransform(16)(path) for path in files.paths])
    np.testing.assert_array_equal(batches[1][0].numpy(), views[3:])  # out of order: starts there
    np.testing.assert_array_equal(batches[0][0].numpy(), views[:3])
    batches.on_epoch_end()
    np.testing.assert_array_equal(batches[1][0].numpy(), views[3:])


def test_a_worker_pool_decodes_the_same_images(files):
    pooled = EvalBatches(ImageFiles(files.paths, files.image_size, workers=2), batch_size=5)
    views = np.stack([EvalTransform(16)(path) for path in files.paths])
    np.testing.assert_array_equal(np.concatenate([pooled[i][0].numpy() for i in range(len(pooled))]), views)
    pooled.on_epoch_end()  # the workers exit
