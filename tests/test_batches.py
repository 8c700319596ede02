"""Tests of keras_lt.data.batches: TrainingBatches' seeded epoch order, samplers, global batches and rank shards."""

import numpy as np
import pytest
import torch

from keras_lt.data.batches import TrainingBatches
from keras_lt.data.batches import class_ids
from keras_lt.data.batches import training_device
from keras_lt.errors import DataError

LABELS = np.array([2, 0, 0, 1, 0, 2, 0, 0, 1, 0])  # 10 images: 6 / 2 / 2


def seeded(seed, *key):
    """A CPU generator seeded by `(seed, key)` as documented: NumPy's SeedSequence with `key` as spawn key."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1)[0]))


def test_the_training_set_and_the_device():
    batches = TrainingBatches(LABELS, 3, batch_size=4, device="cpu")
    assert len(batches) == 3  # ceil(10 / 4)
    assert batches.labels.dtype == torch.int64 and batches.labels.device == torch.device("cpu")
    np.testing.assert_array_equal(batches.labels.numpy(), LABELS)
    np.testing.assert_array_equal(batches.class_counts, [6, 2, 2])
    assert (batches.rank, batches.world_size, batches.epoch) == (0, 1, 0)
    assert training_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert TrainingBatches(LABELS, 3).device == training_device()


def test_the_instance_order_is_a_permutation_seeded_by_seed_and_epoch():
    batches = TrainingBatches(LABELS, 3, batch_size=4, seed=5, device="cpu")
    orders = {}
    for epoch in (0, 3, 4):
        batches.set_epoch(epoch)
        assert batches.epoch == epoch
        torch.testing.assert_close(batches.order, torch.randperm(10, generator=seeded(5, epoch)))
        orders[epoch] = batches.order.clone()
    assert sorted(orders[3].tolist()) == list(range(10))
    assert not torch.equal(orders[3], orders[4])
    batches.set_epoch(3)  # a resumed run draws the same order again
    torch.testing.assert_close(batches.order, orders[3])
    other = TrainingBatches(LABELS, 3, batch_size=4, seed=6, device="cpu")
    other.set_epoch(3)
    assert not torch.equal(other.order, orders[3])


def test_the_square_root_sampler_draws_classes_by_sqrt_count_and_images_uniformly():
    batches = TrainingBatches(LABELS, 3, batch_size=4, sampler="square_root", seed=1, device="cpu")
    drawn = []
    for epoch in range(400):
        batches.set_epoch(epoch)
        assert len(batches.order) == 10 and batches.order.dtype == torch.int64
        drawn.append(batches.order.numpy())
    drawn = np.concatenate(drawn)
    classes = np.bincount(LABELS[drawn], minlength=3)
    expected = len(drawn) * np.sqrt([6, 2, 2]) / np.sqrt([6, 2, 2]).sum()
    assert np.sum((classes - expected) ** 2 / expected) < 15.2  # 2 dof: the 0.9995 quantile
    of_class_0 = np.bincount(drawn[LABELS[drawn] == 0], minlength=10)[LABELS == 0]
    uniform = of_class_0.sum() / 6
    assert np.sum((of_class_0 - uniform) ** 2 / uniform) < 20.5  # 5 dof: the 0.999 quantile
    batches.set_epoch(7)
    torch.testing.assert_close(batches.order, torch.as_tensor(drawn[70:80]))  # epoch 7 again


def test_global_batches_cut_the_order_and_ranks_take_contiguous_shards():
    batches = TrainingBatches(LABELS, 3, batch_size=4, device="cpu")
    parts = [batches.batch_indices(i) for i in range(len(batches))]
    assert [len(p) for p in parts] == [4, 4, 2]
    torch.testing.assert_close(torch.cat(parts), batches.order)
    assert batches.shard(4) == slice(0, 4)  # one process: the whole batch
    for size in (4, 10, 2):
        shards = []
        for rank in range(3):
            batches.rank, batches.world_size = rank, 3
            shards.append(np.arange(size)[batches.shard(size)])
        for ours, theirs in zip(shards, np.array_split(np.arange(size), 3)):  # the first size % 3 ranks take one more
            np.testing.assert_array_equal(ours, theirs)


def test_images_are_the_subclasses_business():
    with pytest.raises(NotImplementedError):
        TrainingBatches(LABELS, 3, device="cpu").images_at(torch.tensor([0]), torch.Generator())


@pytest.mark.parametrize("labels, message", [
    (np.eye(3)[[0, 1, 2, 0]], r"labels must be one class id per image, shape \(N,\), not \(4, 3\)"),
    (np.array([0.0, 1.5, 2.0, 0.0]), r"labels must be whole class ids, not float64 values such as \[0.0, 1.5, 2.0\]"),
    (np.array([0, 1, 3, 0]), r"labels must be class ids in 0..2 \(3 classes\), not 0..3"),
    (np.array([0, -1, 2, 0]), r"labels must be class ids in 0..2 \(3 classes\), not -1..2"),
    (np.array([0.0, 1234567.0]), r"labels must be class ids in 0..2 \(3 classes\), not 0..1234567\.$"),
    (np.array([True, False]), r"labels must be whole class ids, not bool values"),
])
def test_labels_that_are_not_class_ids_are_one_line(labels, message):
    """They failed deep in torch (an index out of bounds, a bincount of negatives) or were truncated to other classes."""
    with pytest.raises(DataError, match=f"^{message}") as error:
        class_ids(labels, 3)
    assert "\n" not in str(error.value)


def test_a_column_of_whole_numbers_is_taken_as_class_ids():
    ids = class_ids(np.array([[0.0], [2.0], [1.0]]), 3)
    assert ids.dtype == np.int64 and ids.tolist() == [0, 2, 1]
