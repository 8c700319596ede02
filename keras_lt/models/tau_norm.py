"""Tau-normalisation of a linear classifier's weights (Kang et al., ICLR 2020)."""

from keras import ops


def tau_normalize(kernel, tau=1.0):
    """Divides each class's weight vector by its L2 norm to the power `tau`: `w_j / ||w_j|| ** tau`.

    `tau = 1` gives every class a unit-norm weight vector, `tau = 0` changes nothing; Kang et al.
    choose tau on a validation set (their `tau_norm.py` scans 0..2). The bias is not part of the
    normalised classifier: their logits are `features @ W_tau` (see `keras_lt.trainers.decouple`).

    Args:
        kernel: a Dense kernel `(features, classes)`: class j's weight vector is column j.
        tau: the exponent of the norm.

    Returns:
        The normalised kernel, of the same shape.

    Example:
    >>> kernel = tau_normalize(model.get_layer("classifier").kernel, tau=1.0)
    """
    return kernel / ops.power(ops.norm(kernel, axis=0, keepdims=True), tau)
