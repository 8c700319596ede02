"""Vectorised samplers over a labelled set held on the training device."""

import numpy as np
import torch

SAMPLERS = ("instance", "class_balanced", "inverse_frequency", "square_root")


def class_probabilities(class_counts, sampler):
    """Probability of drawing each class under `sampler`.

    - "instance": proportional to `n_c` (every image equally likely).
    - "class_balanced": uniform over classes (Kang et al.'s class-balanced sampling; also what a
      per-sample weight `1 / n_c` gives, as CMO's weighted sampler does).
    - "inverse_frequency": proportional to `1 / n_c` (the rarer the class, the more often).
    - "square_root": proportional to `sqrt(n_c)` (Kang et al.'s square-root sampling, q = 1/2 of
      `p_c = n_c^q / sum_k n_k^q`; Mahajan et al. 2018).

    Args:
        class_counts: training images per class.
        sampler: one of `SAMPLERS`.

    Returns:
        A float64 NumPy vector summing to 1 (0 for empty classes).

    Example:
    >>> class_probabilities([300, 100], "inverse_frequency")
    array([0.25, 0.75])
    """
    counts = np.asarray(class_counts, dtype="float64")
    present = counts > 0
    if sampler == "instance":
        weights = counts
    elif sampler == "class_balanced":
        weights = present.astype("float64")
    elif sampler == "inverse_frequency":
        weights = np.where(present, 1.0 / np.maximum(counts, 1), 0.0)
    elif sampler == "square_root":
        weights = np.sqrt(counts)
    else:
        raise ValueError(f"unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}.")
    return weights / weights.sum()


class ClassSampler:
    """Draws sample indices class-first: a class by its probability, then an image of it uniformly.

    Everything runs as a few tensor ops on the labels' device; no per-sample Python.

    Args:
        labels: int64 tensor of the labels of the set (on the training device).
        num_classes: number of classes.

    Example:
    >>> sampler = ClassSampler(torch.tensor([0, 0, 1]), 2)
    >>> idx = sampler.sample_classes(torch.tensor([1, 1, 0]), torch.Generator())
    """

    def __init__(self, labels, num_classes):
        self.labels = labels
        self.num_classes = num_classes
        self.class_counts = torch.bincount(labels, minlength=num_classes)
        self.by_class = torch.argsort(labels, stable=True)  # indices grouped by class
        self.class_start = torch.cumsum(self.class_counts, 0) - self.class_counts

    def sample_classes(self, classes, generator):
        """One uniformly drawn image index of each class in `classes` (an int64 tensor)."""
        u = torch.rand(classes.shape, device=classes.device, generator=generator)
        offset = (u * self.class_counts[classes]).long()
        return self.by_class[self.class_start[classes] + offset]

    def sample(self, probabilities, size, generator):
        """`size` indices drawn with replacement, class `c` with `probabilities[c]`."""
        p = torch.as_tensor(probabilities, dtype=torch.float32, device=self.labels.device)
        classes = torch.multinomial(p, size, replacement=True, generator=generator)
        return self.sample_classes(classes, generator)
