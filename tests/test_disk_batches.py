"""Tests of keras_lt.data.disk_batches: writing the memory-mapped image file, reading its rows, crops and shards."""

import os

import numpy as np
import pytest
import torch

from keras_lt.data.disk_batches import DiskBatches
from keras_lt.data.resized_crop import random_resized_boxes
from keras_lt.errors import KerasLTError
from test_batches import seeded
from test_resized_crop import pil_crop_resize

LABELS = np.array([0, 1, 0, 2, 0, 1, 0])
STORED = np.random.default_rng(0).integers(0, 256, (7, 6, 5, 3), dtype=np.uint8)


def in_parts(images, starts=(4, 0)):
    """`(rows, images)` parts of `images`, 4 rows each, in the order of `starts`."""
    return ((slice(start, start + 4), images[start : start + 4]) for start in starts)


def written(path, **kwargs):
    batches = DiskBatches(str(path), LABELS, 3, (6, 5, 3), batch_size=4, device="cpu", **kwargs)
    batches.write(len(LABELS), in_parts(STORED))
    return batches


def test_augment_is_true_or_false():
    with pytest.raises(ValueError) as error:
        DiskBatches("x.npy", LABELS, 3, (6, 5, 3), augment="imagenet")
    assert str(error.value) == "augment must be True or False; got 'imagenet'."


def test_write_makes_a_new_file_in_one_step(tmp_path):
    path = tmp_path / "run" / "afr" / "set.npy"  # its folder is made
    batches = written(path)
    assert os.listdir(path.parent) == ["set.npy"]  # the temporary file was renamed over it
    np.testing.assert_array_equal(np.load(path), STORED)
    assert isinstance(batches.images, np.memmap) and not batches.images.flags.writeable
    os.link(path, tmp_path / "kept.npy")  # a hard link to the first file
    batches.write(len(LABELS), in_parts(255 - STORED, starts=(0, 4)))
    np.testing.assert_array_equal(batches.images, 255 - STORED)
    np.testing.assert_array_equal(np.load(tmp_path / "kept.npy"), STORED)  # not changed in place


def test_read_gives_the_rows_of_the_indices_or_black_before_the_file(tmp_path):
    batches = DiskBatches(str(tmp_path / "set.npy"), LABELS, 3, (6, 5, 3), device="cpu")
    idx = torch.tensor([5, 0, 5, 3])
    black = batches.read(idx)
    assert black.dtype == torch.uint8 and black.shape == (4, 6, 5, 3) and not black.any()
    batches.write(len(LABELS), in_parts(STORED))
    np.testing.assert_array_equal(batches.read(idx).numpy(), STORED[[5, 0, 5, 3]])


@pytest.mark.parametrize("stored", [STORED.astype(np.float32), STORED[..., 0]], ids=["float32", "three axes"])
def test_load_refuses_a_file_of_other_images(tmp_path, stored):
    path = str(tmp_path / "other.npy")
    np.save(path, stored)
    with pytest.raises(KerasLTError) as error:
        DiskBatches(path, LABELS, 3, (6, 5, 3), device="cpu").load()
    assert str(error.value) == (
        f"{path} holds {stored.dtype} images of shape {stored.shape}, not 7 uint8 NHWC images; delete it to regenerate."
    )


def test_augmented_batches_are_the_streamed_crop_of_the_global_batch(tmp_path):
    batches = written(tmp_path / "set.npy", seed=3)
    flips = []
    for epoch in (0, 2):
        batches.set_epoch(epoch)
        order = torch.randperm(len(LABELS), generator=seeded(3, epoch)).numpy()  # the (seed, epoch) permutation
        for index in range(len(batches)):
            idx = order[4 * index : 4 * index + 4]
            images, labels = batches[index]
            # RandomResizedCrop with torchvision's scale (0.08, 1) + flip, drawn from the (seed, epoch, batch)
            # generator in the documented order (the boxes, then the flips), each crop made by PIL
            replay = seeded(3, epoch, index)
            boxes = random_resized_boxes(len(idx), 6, 5, replay, scale=(0.08, 1.0))
            flipped = (torch.rand(len(idx), generator=replay) < 0.5).numpy()
            for k, row in enumerate(idx):
                expected = pil_crop_resize(STORED[row], *(int(v[k]) for v in boxes), (6, 5))
                expected = expected[:, ::-1] if flipped[k] else expected
                np.testing.assert_array_equal(images[k].numpy(), expected, err_msg=f"{epoch} {index} {k}")
            np.testing.assert_array_equal(labels.numpy(), LABELS[idx])
            flips.extend(flipped)
    assert 0 < sum(flips) < len(flips)  # both flipped and unflipped crops were checked


def test_ranks_crop_the_global_batch_and_keep_their_shard(tmp_path):
    single = written(tmp_path / "set.npy", seed=1)
    ranks = []
    for rank in range(2):
        batches = DiskBatches(single.path, LABELS, 3, (6, 5, 3), batch_size=4, seed=1, device="cpu")
        batches.load()
        batches.rank, batches.world_size = rank, 2
        ranks.append(batches)
    for index in range(len(single)):
        shards = [batches[index] for batches in ranks]
        for part, whole in zip(zip(*shards), single[index]):
            torch.testing.assert_close(torch.cat(part), whole)
    assert [len(batches[1][1]) for batches in ranks] == [2, 1]  # the last batch (3) splits 2 / 1
