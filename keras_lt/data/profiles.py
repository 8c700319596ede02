"""Long-tailed class profiles: the exponential count profile, the LDAM selection, shot groups."""

import numpy as np


def long_tailed_counts(num_classes, max_count, imbalance_factor):
    """Per-class image counts of the exponential long-tail profile (Cao et al., LDAM-DRW).

    `n_c = int(max_count * (1 / imbalance_factor) ** (c / (num_classes - 1)))`.

    Args:
        num_classes: number of classes C.
        max_count: images of the largest class (500 for CIFAR-100, 5000 for CIFAR-10).
        imbalance_factor: ratio of the largest to the smallest class count.

    Returns:
        A list of C ints, largest first: rounded down as the official code does, so 0 for the rarest
        classes when `max_count < imbalance_factor` (a training run refuses a class left with fewer
        than two images, `keras_lt.training_data.MIN_CLASS_IMAGES`).

    Example:
    >>> sum(long_tailed_counts(100, 500, 100))
    10847
    """
    if num_classes < 2 or max_count < 1 or imbalance_factor < 1:
        raise ValueError(
            "long_tailed_counts needs num_classes >= 2, max_count >= 1 and imbalance_factor >= 1, "
            f"got {num_classes}, {max_count}, {imbalance_factor}."
        )
    ratio = 1.0 / imbalance_factor
    return [int(max_count * ratio ** (c / (num_classes - 1.0))) for c in range(num_classes)]


def long_tailed_indices(labels, counts, seed=0):
    """Indices of the long-tailed subset, selected exactly as the LDAM-DRW code does.

    The NumPy legacy generator is seeded once; then for each class in order its indices (in the
    dataset's original order) are shuffled and the first `counts[c]` kept. `seed=0` gives the split
    most CIFAR-LT papers use.

    Args:
        labels: integer labels of the full training set, in its original order.
        counts: images to keep per class, indexed by class id.
        seed: seed of the selection.

    Returns:
        An int64 array of indices into `labels`, grouped by class.

    Example:
    >>> labels = np.repeat(np.arange(10), 5000)
    >>> len(long_tailed_indices(labels, long_tailed_counts(10, 5000, 100)))
    12406
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)  # same stream as np.random.seed(seed) + np.random.shuffle
    selected = []
    for c, n_c in enumerate(counts):
        idx = np.where(labels == c)[0]
        if len(idx) < n_c:
            raise ValueError(f"class {c} has {len(idx)} images, fewer than the {n_c} requested.")
        rng.shuffle(idx)
        selected.append(idx[:n_c])
    return np.concatenate(selected).astype(np.int64)


def shot_groups(train_counts, many_threshold=100, few_threshold=20):
    """Splits classes into many-shot (> many), few-shot (< few) and medium-shot (the rest).

    Args:
        train_counts: training images per class.
        many_threshold: a class with more training images than this is many-shot.
        few_threshold: a class with fewer training images than this is few-shot.

    Returns:
        A dict `{"many": idx, "medium": idx, "few": idx}` of int arrays of class ids.

    Example:
    >>> shot_groups([500, 60, 5])["medium"]
    array([1])
    """
    counts = np.asarray(train_counts)
    many = counts > many_threshold
    few = counts < few_threshold
    return {
        "many": np.flatnonzero(many),
        "medium": np.flatnonzero(~many & ~few),
        "few": np.flatnonzero(few),
    }


def imbalance_factor(train_counts):
    """Largest over smallest non-zero class count."""
    counts = np.asarray(train_counts)
    counts = counts[counts > 0]
    return float(counts.max() / counts.min())
