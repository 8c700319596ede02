"""Class-first samplers: drawn class frequencies against n_c / uniform / 1 / n_c / sqrt(n_c), and label agreement."""

import numpy as np
import pytest
import torch

from keras_lt.data.samplers import ClassSampler
from keras_lt.data.samplers import class_probabilities

COUNTS = np.array([400, 120, 30, 7, 1])
DRAWS = 200_000


def shuffled_labels(counts, seed=0):
    labels = np.repeat(np.arange(len(counts)), counts)
    return torch.as_tensor(np.random.default_rng(seed).permutation(labels))


@pytest.mark.parametrize(
    "kind, weights",
    [
        ("instance", COUNTS.astype(float)),
        ("class_balanced", np.ones(len(COUNTS))),
        ("inverse_frequency", 1.0 / COUNTS),
        ("square_root", np.array([20.0, 120**0.5, 30**0.5, 7**0.5, 1.0])),
    ],
)
def test_drawn_class_frequencies(kind, weights):
    expected = weights / weights.sum()
    np.testing.assert_allclose(class_probabilities(COUNTS, kind), expected, rtol=1e-12)
    labels = shuffled_labels(COUNTS)
    sampler = ClassSampler(labels, len(COUNTS))
    idx = sampler.sample(class_probabilities(COUNTS, kind), DRAWS, torch.Generator().manual_seed(0))
    assert idx.dtype == torch.int64 and idx.shape == (DRAWS,)
    observed = np.bincount(labels[idx].numpy(), minlength=len(COUNTS))
    chi_square = np.sum((observed - DRAWS * expected) ** 2 / (DRAWS * expected))
    assert chi_square < 20.5  # the 0.9995 quantile with 4 degrees of freedom is 20.0


def test_images_within_a_class_are_uniform():
    labels = shuffled_labels(COUNTS)
    sampler = ClassSampler(labels, len(COUNTS))
    idx = sampler.sample_classes(torch.full((DRAWS,), 2), torch.Generator().manual_seed(1)).numpy()
    members = np.flatnonzero(labels.numpy() == 2)
    observed = np.bincount(idx, minlength=len(labels))[members]
    assert observed.sum() == DRAWS
    expected = DRAWS / len(members)
    assert np.sum((observed - expected) ** 2 / expected) < 70.0  # 29 dof: 0.9999 quantile is ~66


def test_sample_classes_returns_an_image_of_each_requested_class():
    labels = shuffled_labels([3, 1, 5, 2])
    sampler = ClassSampler(labels, 4)
    classes = torch.tensor([3, 0, 1, 1, 2, 3, 0, 2] * 50)
    idx = sampler.sample_classes(classes, torch.Generator().manual_seed(2))
    torch.testing.assert_close(labels[idx], classes)


def test_empty_classes_are_never_drawn():
    counts = np.array([5, 0, 3])
    for kind in ("instance", "class_balanced", "inverse_frequency", "square_root"):
        p = class_probabilities(counts, kind)
        assert p[1] == 0 and p.sum() == pytest.approx(1.0)
    labels = shuffled_labels(counts)
    idx = ClassSampler(labels, 3).sample(class_probabilities(counts, "class_balanced"), 1000, torch.Generator())
    assert set(labels[idx].tolist()) == {0, 2}


def test_unknown_sampler():
    with pytest.raises(ValueError, match="unknown sampler 'cube_root'"):
        class_probabilities(COUNTS, "cube_root")
