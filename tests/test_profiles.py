"""Long-tail profiles against the published CIFAR-LT totals and the LDAM-DRW selection loop."""

import numpy as np
import pytest

from keras_lt.data import imbalance_factor
from keras_lt.data import long_tailed_counts
from keras_lt.data import long_tailed_indices
from keras_lt.data import shot_groups

# METHODS.md "Known totals" (the CIFAR-LT splits of Cao et al.).
KNOWN_TOTALS = {
    (100, 500): {10: 19573, 50: 12608, 100: 10847, 200: 9502},
    (10, 5000): {10: 20431, 50: 13996, 100: 12406, 200: 11203},
}


@pytest.mark.parametrize("num_classes, max_count", list(KNOWN_TOTALS))
def test_known_cifar_lt_totals(num_classes, max_count):
    for factor, total in KNOWN_TOTALS[num_classes, max_count].items():
        counts = long_tailed_counts(num_classes, max_count, factor)
        assert len(counts) == num_classes and all(isinstance(n, int) for n in counts)
        assert counts[0] == max_count and counts[-1] == max_count // factor
        assert sum(counts) == total
        assert counts == sorted(counts, reverse=True)


def test_cifar100_lt_if100_shot_groups():
    counts = long_tailed_counts(100, 500, 100)
    groups = shot_groups(counts)
    assert [len(groups[g]) for g in ("many", "medium", "few")] == [35, 35, 30]
    np.testing.assert_array_equal(np.sort(np.concatenate(list(groups.values()))), np.arange(100))
    assert np.all(np.asarray(counts)[groups["many"]] > 100)
    assert np.all(np.asarray(counts)[groups["few"]] < 20)
    assert imbalance_factor(counts) == 100.0
    assert imbalance_factor([0, 30, 3]) == 10.0


def test_rejects_bad_profiles():
    for args in ((1, 500, 100), (10, 0, 100), (10, 500, 0.5)):
        with pytest.raises(ValueError, match="long_tailed_counts needs"):
            long_tailed_counts(*args)


def ldam_selection(labels, counts, seed):
    """The LDAM-DRW `gen_imbalanced_data` loop, on NumPy's global legacy generator."""
    np.random.seed(seed)
    selected = []
    for the_class, the_img_num in zip(np.unique(labels), counts):
        idx = np.where(labels == the_class)[0]
        np.random.shuffle(idx)
        selected.append(idx[:the_img_num])
    return np.concatenate(selected)


@pytest.mark.parametrize("seed", [0, 7])
def test_indices_equal_the_ldam_loop(seed):
    labels = np.random.default_rng(123).permutation(np.repeat(np.arange(10), 300))
    counts = long_tailed_counts(10, 300, 50)
    state = np.random.get_state()
    try:
        expected = ldam_selection(labels, counts, seed)
    finally:
        np.random.set_state(state)
    got = long_tailed_indices(labels, counts, seed)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.bincount(labels[got], minlength=10), counts)
    assert len(np.unique(got)) == len(got)


def test_indices_reject_too_few_images():
    with pytest.raises(ValueError, match="class 1 has 2 images, fewer than the 3 requested"):
        long_tailed_indices(np.array([0, 0, 0, 1, 1]), [3, 3])
