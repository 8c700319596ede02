"""AFR's intra-class split (step 2 of `keras_lt.trainers.afr`): per-class cosine thresholds, and the samples below them.

A sample is an intra-class minority when the cosine between its embedding and its class mean is
below its class's threshold; `adaptive_thresholds` gives the thresholds from the training
accuracies, `intra_class_minority` the split.
"""

import numpy as np
import torch


def adaptive_thresholds(class_accuracy, train_accuracy, majority_threshold=0.8, adaptive_from_accuracy=0.6):
    """AFR's per-class cosine thresholds: `a_c` where `a_c < a_train`, else `majority_threshold`.

    The adaptive rule applies once `a_train` reaches `adaptive_from_accuracy` (the paper: 60% to
    70%); below it every class gets `majority_threshold`, the paper's fixed lambda.

    Args:
        class_accuracy: per-class training accuracies `a_c`.
        train_accuracy: the overall training accuracy `a_train`.
        majority_threshold: lambda, the threshold of the classes at or above `a_train` (0.8 in the paper).
        adaptive_from_accuracy: the training accuracy from which the rule is adaptive; None: always.

    Returns:
        A float64 NumPy vector of thresholds `lambda_c`.

    Example:
    >>> adaptive_thresholds([0.5, 0.95], 0.9)
    array([0.5, 0.8])
    >>> adaptive_thresholds([0.3, 0.6], 0.5)  # below 60% training accuracy: fixed lambda
    array([0.8, 0.8])
    """
    accuracy = np.asarray(class_accuracy, dtype="float64")
    if adaptive_from_accuracy is not None and train_accuracy < adaptive_from_accuracy:
        return np.full_like(accuracy, float(majority_threshold))
    return np.where(accuracy < train_accuracy, accuracy, float(majority_threshold))


def intra_class_minority(embeddings, labels, thresholds):
    """Which samples are intra-class minorities: `cos(e_x, e_c) < lambda_c`, `e_c` the class mean.

    Args:
        embeddings: float tensor `(N, D)`.
        labels: int64 tensor `(N,)`.
        thresholds: `(C,)` thresholds `lambda_c` (array or tensor).

    Returns:
        A bool tensor `(N,)`: True for the intra-class minority samples.

    Example:
    >>> minority = intra_class_minority(e, y, adaptive_thresholds(acc, acc_train))
    """
    num_classes = len(thresholds)
    embeddings = embeddings.float()
    sums = torch.zeros((num_classes, embeddings.shape[1]), device=embeddings.device).index_add_(0, labels, embeddings)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).unsqueeze(1)
    means = sums / counts
    cosine = torch.nn.functional.cosine_similarity(embeddings, means[labels], dim=1, eps=1e-12)
    limit = torch.as_tensor(np.asarray(thresholds), dtype=torch.float32, device=embeddings.device)[labels]
    return cosine < limit
