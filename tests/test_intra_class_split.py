"""`keras_lt.trainers.intra_class_split`: AFR's threshold rule and split, against the paper's rule and NumPy."""

import numpy as np
import pytest
import torch

from keras_lt.trainers.intra_class_split import adaptive_thresholds
from keras_lt.trainers.intra_class_split import intra_class_minority


def test_threshold_rule_on_hand_built_accuracies():
    accuracy = [0.5, 0.95, 0.9, 0.7, 1.0, 0.0]
    np.testing.assert_array_equal(adaptive_thresholds(accuracy, 0.9), [0.5, 0.8, 0.8, 0.7, 0.8, 0.0])
    np.testing.assert_array_equal(adaptive_thresholds(accuracy, 0.6, majority_threshold=0.75), [0.5, 0.75, 0.75, 0.75, 0.75, 0.0])


def paper_thresholds(class_accuracy, train_accuracy, lam=0.8, level=0.6):
    """AFR section 3.3, as plain Python: once a_train reaches the level, lambda_c = a_c if a_c < a_train else lambda."""
    if level is not None and train_accuracy < level:
        return [lam] * len(class_accuracy)
    return [a if a < train_accuracy else lam for a in class_accuracy]


@pytest.mark.parametrize("train_accuracy", [0.3, 0.59, 0.6, 0.65, 0.9])
@pytest.mark.parametrize("level", [0.6, 0.7, None])
def test_adaptive_thresholds_only_from_the_papers_training_accuracy(train_accuracy, level):
    accuracy = [0.2, 0.95, 0.61, 0.7, 1.0, 0.0]
    np.testing.assert_array_equal(
        adaptive_thresholds(accuracy, train_accuracy, 0.8, level), paper_thresholds(accuracy, train_accuracy, 0.8, level)
    )
    assert adaptive_thresholds(accuracy, 0.5).tolist() == [0.8] * 6  # default gate: 60%


def test_intra_class_minority_against_numpy():
    rng = np.random.default_rng(0)
    embeddings = np.abs(rng.normal(size=(60, 5))) + rng.random((60, 1)) * np.eye(5)[rng.integers(0, 5, 60)]
    labels = rng.integers(0, 3, 60)
    means = np.stack([embeddings[labels == c].mean(0) for c in range(3)])[labels]
    cosine = (embeddings * means).sum(1) / np.linalg.norm(embeddings, axis=1) / np.linalg.norm(means, axis=1)
    for thresholds in ([0.9, 0.8, 0.95], [0.85, 0.9, 0.7], [0.95, 0.95, 0.9]):
        thresholds = np.array(thresholds)
        minority = intra_class_minority(torch.tensor(embeddings, dtype=torch.float32), torch.tensor(labels), thresholds)
        np.testing.assert_array_equal(minority.numpy(), cosine < thresholds[labels])
        assert 0 < minority.sum() < 60
