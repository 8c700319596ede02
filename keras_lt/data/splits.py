"""`stratified_split`: a held-out part of a training split, the same share of every class."""

import numpy as np


def stratified_split(labels, fraction, seed=0):
    """Splits indices into `(kept, held_out)`, holding out `fraction` of every class.

    Each class of two or more images gives at least one image and keeps at least one; the draw
    depends only on `labels`, `fraction` and `seed`.

    Args:
        labels: int labels of the split.
        fraction: the share to hold out, in (0, 1).
        seed: seed of the draw.

    Returns:
        Two sorted int64 index arrays.

    Example:
    >>> kept, held = stratified_split(np.array([0, 0, 0, 1, 1]), 0.2)
    """
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) >= 2:
            held += members[: min(len(members) - 1, max(1, round(len(members) * fraction)))].tolist()
    held = np.sort(np.asarray(held, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), held).astype(np.int64), held
