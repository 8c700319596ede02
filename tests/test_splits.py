"""stratified_split: every class gives its share, at least one, and keeps at least one."""

import numpy as np

from keras_lt.data.splits import stratified_split


def test_every_class_gives_its_share_and_keeps_one():
    labels = np.array([0] * 20 + [1] * 5 + [2] * 2 + [3])
    kept, held = stratified_split(labels, 0.2, seed=1)
    assert np.bincount(labels[held], minlength=4).tolist() == [4, 1, 1, 0]
    assert sorted(kept.tolist() + held.tolist()) == list(range(len(labels)))
    again, _ = stratified_split(labels, 0.2, seed=1)
    np.testing.assert_array_equal(kept, again)
