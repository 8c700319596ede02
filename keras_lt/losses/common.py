"""Helpers shared by the losses: count validation, integer labels, torch-style class weights."""

import numpy as np
from keras import ops


def validated_counts(class_counts):
    """`class_counts` as a float64 NumPy vector; raises unless it is 1-D and positive."""
    counts = np.asarray(class_counts, dtype="float64")
    if counts.ndim != 1 or np.any(counts <= 0):
        raise ValueError("class_counts must be a 1-D list of positive training counts per class.")
    return counts


def sparse_labels(y_true):
    """Integer class ids as a flat int32 vector (accepts shape `(B,)` or `(B, 1)`, any dtype)."""
    return ops.cast(ops.reshape(y_true, (-1,)), "int32")


def log_prior(class_counts):
    """`log(n_c / sum(n))` as a float32 NumPy vector; validates the counts."""
    counts = validated_counts(class_counts)
    return np.log(counts / counts.sum()).astype("float32")


def sparse_softmax_cross_entropy(labels, logits):
    """Per-sample `-log softmax(logits)[label]` for integer labels."""
    return ops.sparse_categorical_crossentropy(sparse_labels(labels), logits, from_logits=True)


NORMALIZATIONS = ("weighted_mean", "batch")


def class_weighted(losses, y_true, class_weight, normalization="weighted_mean"):
    """Re-weights per-sample losses so that Keras' batch mean is the chosen class-weighted mean.

    - "weighted_mean": `torch.nn.functional.cross_entropy(z, y, weight=w)`'s value,
      `sum_i w[y_i] l_i / sum_i w[y_i]` (not `mean_i w[y_i] l_i`): returns `w[y_i] l_i / mean_batch(w[y])`,
      so the DRW phase keeps the loss scale of the reference code.
    - "batch": Cui et al.'s `sum_i w[y_i] l_i / B` (their TF code: `tf.losses.softmax_cross_entropy`
      with `weights`, or a sum over the batch divided by the number of positive labels): returns
      `w[y_i] l_i`.

    Keras' default "sum_over_batch_size" reduction then gives exactly that value. (Only that default
    reduction does; `reduction="sum"` gives B times it.)

    Args:
        losses: per-sample losses, shape `(B,)`.
        y_true: integer labels, shape `(B,)` or `(B, 1)`.
        class_weight: `None` (returns `losses` unchanged) or C per-class weights.
        normalization: "weighted_mean" or "batch".

    Returns:
        Per-sample losses, shape `(B,)`.

    Example:
    >>> class_weighted(ops.ones((2,)), np.array([0, 1]), [1.0, 3.0])  # [0.5, 1.5], mean 1.0
    """
    if class_weight is None:
        return losses
    weights = ops.take(ops.convert_to_tensor(class_weight, dtype=losses.dtype), sparse_labels(y_true))
    if normalization == "batch":
        return losses * weights
    return losses * weights / ops.mean(weights)


def class_weight_config(class_weight):
    """`class_weight` as a JSON-friendly list of floats (or `None`) for `get_config`."""
    return None if class_weight is None else [float(w) for w in class_weight]
