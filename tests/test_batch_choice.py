"""Tests of keras_lt.data.batch_choice: `training_batches` picks the pipeline of the images and passes its arguments."""

import numpy as np
import pytest
import torch

from keras_lt.data import DeviceBatches
from keras_lt.data import ImageFiles
from keras_lt.data import StreamingBatches
from keras_lt.data import training_batches

LABELS = np.array([0, 0, 0, 0, 1, 1, 2])
FILES = ImageFiles([f"train/{i}.jpg" for i in range(7)], image_size=16, workers=0)  # nothing is decoded here
IMAGES = np.random.default_rng(0).integers(0, 256, (7, 6, 6, 3), dtype=np.uint8)


def test_image_files_stream_and_arrays_stay_on_the_device():
    assert isinstance(training_batches(FILES, LABELS, 3, 4), StreamingBatches)
    assert isinstance(training_batches(IMAGES, LABELS, 3, 4), DeviceBatches)


def test_defaults():
    batches = training_batches(IMAGES, LABELS, 3)
    assert (batches.batch_size, batches.sampler, batches.augment, batches.seed) == (128, "instance", True, 0)
    assert batches.num_classes == 3 and len(batches) == 1


@pytest.mark.parametrize("images, augment", [(FILES, "imagenet_jitter"), (IMAGES, "paco")])
def test_the_arguments_reach_the_pipeline(images, augment):
    batches = training_batches(images, LABELS, 3, batch_size=2, sampler="square_root", augment=augment, seed=9)
    assert (batches.batch_size, batches.sampler, batches.augment, batches.seed) == (2, "square_root", augment, 9)
    assert len(batches) == 4  # ceil(7 / 2)
    kind = type(batches)
    direct = kind(images, LABELS, 3, 2, sampler="square_root", augment=augment, seed=9)
    for epoch in (0, 5):
        batches.set_epoch(epoch)
        direct.set_epoch(epoch)
        torch.testing.assert_close(batches.order, direct.order)


def test_pipeline_arguments_pass_through_and_are_checked_by_the_pipeline():
    batches = training_batches(IMAGES, LABELS, 3, 4, augment="autoaugment", cutout_length=3, padding=1)
    assert batches.cutout_length == 3 and batches.padding == 1
    with pytest.raises(ValueError) as error:
        training_batches(FILES, LABELS, 3, 4, augment="autoaugment")
    assert str(error.value) == "augment must be True, False or one of imagenet, imagenet_jitter; got 'autoaugment'."
