"""DeviceBatches: epoch coverage, image/label agreement, per-epoch determinism, balanced sampling."""

import math

import numpy as np
import pytest

from keras_lt.data.pipeline import DeviceBatches


def tagged_set(counts, size=8):
    """Images whose pixel (0, 0, 0) is their index (mod 256) and whose label is also stored in
    pixel (0, 0, 1), so a gathered batch says which image and label it holds."""
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(len(counts)), counts))
    images = np.random.default_rng(1).integers(0, 256, size=(len(labels), size, size, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels)) % 256
    images[:, 0, 0, 1] = labels
    return images, labels


def collect(batches):
    pairs = [batches[i] for i in range(len(batches))]
    return [(x.cpu().numpy(), y.cpu().numpy()) for x, y in pairs]


def test_instance_epoch_covers_every_image_once():
    images, labels = tagged_set([60, 25, 15])
    batches = DeviceBatches(images, labels, 3, batch_size=32, augment=False, device="cpu")
    assert len(batches) == math.ceil(100 / 32) == 4
    out = collect(batches)
    assert [len(y) for _, y in out] == [32, 32, 32, 4]
    x = np.concatenate([x for x, _ in out])
    y = np.concatenate([y for _, y in out])
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(np.sort(x[:, 0, 0, 0]), np.arange(100))
    # every image is the original one, with its own label
    np.testing.assert_array_equal(x, images[x[:, 0, 0, 0]])
    np.testing.assert_array_equal(y, labels[x[:, 0, 0, 0]])


def test_augmented_batches_keep_shape_dtype_and_labels():
    images, labels = tagged_set([40, 24], size=12)
    batches = DeviceBatches(images, labels, 2, batch_size=16, padding=2, device="cpu")
    plain = DeviceBatches(images, labels, 2, batch_size=16, augment=False, device="cpu")
    for (x, y), (x0, y0) in zip(collect(batches), collect(plain)):
        assert x.shape == x0.shape and x.dtype == np.uint8
        np.testing.assert_array_equal(y, y0)  # augmentation does not change the order
        assert not np.array_equal(x, x0)


def test_set_epoch_is_deterministic():
    images, labels = tagged_set([50, 30, 20])
    batches = DeviceBatches(images, labels, 3, batch_size=16, seed=5, device="cpu")
    batches.set_epoch(3)
    first = collect(batches)
    batches.set_epoch(4)
    other = collect(batches)
    batches.set_epoch(3)  # a run resumed at epoch 3
    again = collect(batches)
    for (x, y), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(first[0][1], other[0][1])
    fresh = DeviceBatches(images, labels, 3, batch_size=16, seed=5, device="cpu")
    fresh.set_epoch(3)
    np.testing.assert_array_equal(fresh[0][0].numpy(), first[0][0])
    reseeded = DeviceBatches(images, labels, 3, batch_size=16, seed=6, device="cpu")
    reseeded.set_epoch(3)
    assert not np.array_equal(reseeded[0][1].numpy(), first[0][1])


def test_a_batch_does_not_depend_on_the_fetch_order():
    images, labels = tagged_set([50, 30, 20])
    batches = DeviceBatches(images, labels, 3, batch_size=16, device="cpu")
    batches.set_epoch(2)
    forward = collect(batches)
    batches.set_epoch(2)
    backward = [batches[i] for i in reversed(range(len(batches)))][::-1]
    for (x, y), (x2, y2) in zip(forward, backward):
        np.testing.assert_array_equal(x, x2.numpy())
        np.testing.assert_array_equal(y, y2.numpy())
    np.testing.assert_array_equal(batches[3][0].numpy(), forward[3][0])  # fetched again


@pytest.mark.parametrize("sampler", ["class_balanced", "inverse_frequency"])
def test_class_first_samplers(sampler):
    counts = np.array([900, 90, 10])
    images, labels = tagged_set(counts)
    batches = DeviceBatches(images, labels, 3, batch_size=100, sampler=sampler, augment=False, device="cpu")
    assert len(batches) == 10
    drawn = []
    for epoch in range(20):
        batches.set_epoch(epoch)
        for x, y in collect(batches):
            np.testing.assert_array_equal(x[:, 0, 0, 1], y)
            drawn.append(y)
    drawn = np.concatenate(drawn)
    weights = np.ones(3) if sampler == "class_balanced" else 1.0 / counts
    expected = len(drawn) * weights / weights.sum()
    observed = np.bincount(drawn, minlength=3)
    assert np.sum((observed - expected) ** 2 / expected) < 15.2  # 2 dof: the 0.9995 quantile


@pytest.mark.parametrize("images, message", [
    (np.zeros((4, 8, 8, 3), "float32"), r"images must be uint8 0..255 in NHWC \(the model normalises them\), not float32"),
    (np.zeros((4, 8, 8), "uint8"), r"not uint8 of shape \(4, 8, 8\)"),
    (np.zeros((5, 8, 8, 3), "uint8"), r"5 images and 4 labels; give one label per image"),
])
def test_images_the_pipeline_cannot_take_are_one_line(images, message):
    """Floats in [0, 1] trained silently on near-black images (the model normalises 0..255)."""
    from keras_lt.errors import DataError

    with pytest.raises(DataError, match=message) as error:
        DeviceBatches(images, np.array([0, 1, 2, 0]), 3, batch_size=2)
    assert "\n" not in str(error.value)
