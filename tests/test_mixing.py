"""CP-Mix's mixing functions against NumPy references: counting, pair sampling, label weight, mixing."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import torch

from keras_lt.data.mixing import confusion_counts
from keras_lt.data.mixing import label_weight
from keras_lt.data.mixing import mix
from keras_lt.data.mixing import sample_confusion_pairs


def test_confusion_counts_count_only_the_misclassified_pairs():
    labels = [0, 1, 2, 2, 1, 0, 2, 3, 2]
    predictions = [0, 2, 1, 1, 1, 3, 0, 3, 1]
    expected = np.zeros((4, 4))
    for true, predicted in zip(labels, predictions):
        if true != predicted:
            expected[true, predicted] += 1
    assert expected[2, 1] == 3 and np.trace(expected) == 0
    counts = confusion_counts(torch.tensor(labels), torch.tensor(predictions), 4)
    assert counts.dtype == torch.float32
    np.testing.assert_array_equal(counts.numpy(), expected)


def test_confusion_pairs_follow_the_rows_and_fall_back_to_uniform_over_the_others():
    class_counts = torch.tensor([50, 20, 0, 5, 1])  # class 2 has no training image
    confusion = torch.tensor(
        [
            [0, 6, 3, 1, 0],  # the empty class 2 is never a partner
            [0, 0, 0, 0, 0],  # empty row: uniform over the other present classes
            [1, 1, 0, 1, 1],
            [4, 4, 0, 9, 2],  # the diagonal is ignored
            [0, 0, 5, 0, 0],  # only an empty class: uniform over the others
        ],
        dtype=torch.float32,
    )
    expected = {
        0: {1: 6 / 7, 3: 1 / 7},
        1: {0: 1 / 3, 3: 1 / 3, 4: 1 / 3},
        3: {0: 0.4, 1: 0.4, 4: 0.2},
        4: {0: 1 / 3, 1: 1 / 3, 3: 1 / 3},
    }
    n = 40_000
    anchors, partners = sample_confusion_pairs(confusion, class_counts, n, torch.Generator().manual_seed(0))
    assert anchors.shape == partners.shape == (n,) and anchors.dtype == torch.int64
    anchors, partners = anchors.numpy(), partners.numpy()
    np.testing.assert_allclose(np.bincount(anchors, minlength=5) / n, [0.25, 0.25, 0, 0.25, 0.25], atol=0.01)
    for anchor, row in expected.items():
        drawn = partners[anchors == anchor]
        frequencies = np.bincount(drawn, minlength=5) / len(drawn)
        reference = np.array([row.get(c, 0.0) for c in range(5)])
        np.testing.assert_allclose(frequencies, reference, atol=0.02, err_msg=f"anchor {anchor}")

    again = sample_confusion_pairs(confusion, class_counts, n, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(again[1].numpy(), partners)  # same generator seed, same draws


def test_label_weight_matches_the_formula():
    rng = np.random.default_rng(0)
    lam = rng.uniform(size=6).astype("float32")
    n_i, n_j = rng.integers(1, 500, 6), rng.integers(1, 500, 6)
    for rho in (0.0, 0.5, 1.0):
        expected = (1 - rho) * lam + rho * n_j / (n_i + n_j)
        actual = label_weight(torch.tensor(lam), torch.tensor(n_i), torch.tensor(n_j), rho)
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-6)
    assert label_weight(torch.tensor([0.5]), torch.tensor([300]), torch.tensor([100])).item() == 0.375


def test_mix_equals_a_numpy_reference():
    rng = np.random.default_rng(1)
    x_i = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    x_j = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    y_i, y_j = np.array([0, 1, 2, 3, 3]), np.array([1, 1, 0, 2, 0])
    lam = rng.uniform(size=5).astype("float32")
    lam_y = rng.uniform(size=5).astype("float32")

    images, soft = mix(*map(torch.tensor, (x_i, x_j, y_i, y_j, lam, lam_y)), num_classes=4)

    w = lam[:, None, None, None]
    np.testing.assert_allclose(images.numpy(), w * x_i.astype("float64") + (1 - w) * x_j, rtol=1e-5, atol=1e-4)
    eye = np.eye(4)
    expected = lam_y[:, None] * eye[y_i] + (1 - lam_y[:, None]) * eye[y_j]
    np.testing.assert_allclose(soft.numpy(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(soft.numpy()[1], eye[1])  # a pair of one class keeps its hard label
    assert images.dtype == soft.dtype == torch.float32
