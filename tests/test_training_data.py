"""`keras_lt.training_data`: a recipe's dataset as a run's arrays, the LDAM selection, the held-out test split."""

import dataclasses

import numpy as np
import pytest

from keras_lt import training_data
from keras_lt.data import image_folder
from keras_lt.errors import DataError
from tiny_run import NUM_CLASSES
from tiny_run import tiny_folder
from tiny_run import tiny_recipe


@pytest.mark.parametrize("image_size", [[8, 8], None])
def test_held_out_test_is_the_split_prepare_data_held_out_decoding_only_its_images(tmp_path, monkeypatch, image_size):
    """With an image size, the held-out images alone are decoded; without one (a common size found over
    all images) the folder is loaded as training loads it. Either way: `prepare_data`'s test split."""
    folder = tiny_folder(tmp_path / "photos", counts=(10, 8, 6), test=False)
    recipe = tiny_recipe(dataset="folder", imbalance_factor=None, image_size=image_size, val_split=0.25)
    data = training_data.prepare_data(recipe, folder)
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cold"))  # another machine: nothing decoded yet
    decoded = []
    read = image_folder.read_image
    monkeypatch.setattr(image_folder, "read_image", lambda path, size=None: decoded.append(path) or read(path, size))
    images, labels, counts = training_data.held_out_test(recipe, folder)
    np.testing.assert_array_equal(images, data.test_images)
    np.testing.assert_array_equal(labels, data.test_labels)
    np.testing.assert_array_equal(counts, data.class_counts)
    assert len(decoded) == (len(labels) if image_size else 24)


def test_prepare_data_applies_the_ldam_selection(monkeypatch):
    """Balanced 3 x 20 set, imbalance 10: counts 20, 6, 2 drawn as the LDAM-DRW code draws them."""
    labels = np.tile(np.arange(NUM_CLASSES), 20)  # interleaved, as CIFAR's order is
    images = np.zeros((60, 8, 8, 3), "uint8")
    images[:, 0, 0, 0] = np.arange(60)  # pixel (0, 0, 0) identifies the image
    test_images, test_labels = images[:9], labels[:9]

    def fake_load_dataset(name, split, data_dir=None, image_size=None):
        assert (name, data_dir) == ("cifar10", "/data")
        if split == "train":
            return images, labels, ["a", "b", "c"]
        return test_images, test_labels, ["a", "b", "c"]

    monkeypatch.setattr(training_data, "load_dataset", fake_load_dataset)
    recipe = tiny_recipe(imbalance_factor=10, selection_seed=0)
    data = training_data.prepare_data(recipe, "/data")

    counts = [int(20 * 0.1 ** (c / 2)) for c in range(NUM_CLASSES)]  # Cao et al.'s profile
    assert counts == [20, 6, 2]
    np.random.seed(0)  # IMBALANCECIFAR10.gen_imbalanced_data, written out
    expected = []
    for c, n in enumerate(counts):
        idx = np.where(labels == c)[0]
        np.random.shuffle(idx)
        expected.extend(idx[:n])
    np.testing.assert_array_equal(data.train_images[:, 0, 0, 0], expected)
    np.testing.assert_array_equal(data.train_labels, labels[expected])
    assert data.class_counts.tolist() == counts
    np.testing.assert_array_equal(data.test_labels, test_labels)  # the test split is left balanced
    assert data.class_names == ["a", "b", "c"]

    untouched = training_data.prepare_data(tiny_recipe(imbalance_factor=None), "/data")
    assert len(untouched.train_labels) == 60


def test_one_class_is_one_line(tmp_path):
    folder = tiny_folder(tmp_path / "photos", counts=(8,))
    with pytest.raises(DataError) as error:
        training_data.prepare_data(tiny_recipe(dataset="folder", imbalance_factor=None), folder)
    assert str(error.value) == "the training split has 1 class (c0); a classifier needs at least 2: add a class folder."


@pytest.mark.parametrize("factor, message", [
    (1000, "imbalance factor 1000 leaves class 'c1' 0 of its 6 training images, and every class needs at least 2; use "
           "a factor of at most 4 (--imbalance-factor 0 keeps the data's own counts)."),
    (1.5, "imbalance factor 1.5 asks for 5 training images of class 'c2', which has 4: the long-tail profile is drawn "
          "from balanced data (--imbalance-factor 0 keeps the data's own counts)."),
])
def test_a_long_tail_profile_the_data_cannot_give_says_the_factor_is_why(tmp_path, factor, message):
    """Not "add images": the images are there; the profile of 8, 6 and 4 images leaves too few or asks too many."""
    folder = tiny_folder(tmp_path / "photos", counts=(8, 6, 4))
    recipe = tiny_recipe(dataset="folder", imbalance_factor=factor, image_size=[8, 8])
    with pytest.raises(DataError) as error:
        training_data.prepare_data(recipe, folder)
    assert str(error.value) == message
    data = training_data.prepare_data(dataclasses.replace(recipe, imbalance_factor=4), folder)  # the factor offered
    assert data.class_counts.tolist() == [8, 4, 2]
