"""keras_lt.evaluation against hand-computed answers and direct NumPy formulas written here."""

import json
import sys

import numpy as np
import pytest

from keras_lt import evaluation
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def one_hot_logits(predictions, num_classes):
    """Logits whose argmax is `predictions`."""
    return 5.0 * np.eye(num_classes)[np.asarray(predictions)]


def test_top1_top5_hand_built():
    logits = np.array([[6, 5, 4, 3, 2, 1]] * 3, dtype=float)  # class c has rank c + 1
    labels = [0, 4, 5]  # rank 1 (top-1 hit), rank 5 (top-5 hit), rank 6 (miss)
    report = evaluation.evaluate_predictions(logits, labels, [500] * 6)
    assert report["num_samples"] == 3
    assert report["top1"] == pytest.approx(100 / 3)
    assert report["top5"] == pytest.approx(200 / 3)


def test_top_k_uses_all_classes_when_fewer_than_five():
    report = evaluation.evaluate_predictions([[3.0, 2.0, 1.0]], [2], [500] * 3)
    assert report["top1"] == 0.0
    assert report["top5"] == 100.0  # k = min(5, 3)


def test_shot_groups_are_means_of_per_class_accuracy():
    train_counts = [500, 200, 50, 30, 10, 5]  # many {0, 1}, medium {2, 3}, few {4, 5}
    labels = [0, 0, 1, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5]
    predictions = [0, 0, 1, 0, 0, 2, 1, 3, 0, 4, 4, 4, 0]
    report = evaluation.evaluate_predictions(one_hot_logits(predictions, 6), labels, train_counts)
    # per class: 2/2, 1/4, 0/1, 1/2, 3/3, 0/1
    assert report["per_class_accuracy"] == pytest.approx([100, 25, 0, 50, 100, 0])
    assert report["many"] == pytest.approx((100 + 25) / 2)  # not the sample-weighted 3/6
    assert report["medium"] == pytest.approx((0 + 50) / 2)
    assert report["few"] == pytest.approx((100 + 0) / 2)
    assert report["group_sizes"] == {"many": 2, "medium": 2, "few": 2}
    assert report["top1"] == pytest.approx(100 * 7 / 13)


def test_confusion_macro_f1_balanced_accuracy_g_mean():
    expected = np.array([[3, 1, 0], [1, 2, 1], [0, 1, 1]])
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    predictions = [0, 0, 0, 1, 0, 1, 1, 2, 1, 2]
    report = evaluation.evaluate_predictions(one_hot_logits(predictions, 3), labels, [500, 50, 5])
    assert report["confusion_matrix"] == expected.tolist()
    # class 0: TP 3 FP 1 FN 1 -> F1 0.75; class 1: TP 2 FP 2 FN 2 -> 0.5; class 2: TP 1 FP 1 FN 1 -> 0.5
    assert report["macro_f1"] == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    recalls = np.array([3 / 4, 2 / 4, 1 / 2])
    assert report["balanced_accuracy"] == pytest.approx(100 * recalls.mean())
    assert report["g_mean"] == pytest.approx(np.prod(recalls) ** (1 / 3))


def test_g_mean_is_zero_when_a_class_has_zero_recall():
    report = evaluation.evaluate_predictions(one_hot_logits([0, 0, 0], 2), [0, 1, 1], [500, 5])
    assert report["g_mean"] == 0.0  # recalls 1 and 0
    assert report["balanced_accuracy"] == pytest.approx(50.0)


PROBABILITIES = np.array(
    [
        [0.40, 0.30, 0.30],  # label 0: correct, confidence 0.40 -> bin (0, 0.5]
        [0.45, 0.35, 0.20],  # label 1: wrong, 0.45 -> bin (0, 0.5]
        [0.90, 0.05, 0.05],  # label 0: correct, 0.90 -> bin (0.5, 1]
        [0.10, 0.70, 0.20],  # label 1: correct, 0.70 -> bin (0.5, 1]
        [0.20, 0.20, 0.60],  # label 0: wrong, 0.60 -> bin (0.5, 1]
    ]
)
PROBABILITY_LABELS = [0, 1, 0, 1, 0]
# bin 1: |1/2 - 0.425| * 2/5 = 0.03; bin 2: |2/3 - 2.2/3| * 3/5 = 0.04
HAND_ECE = 0.07
HAND_NLL = -np.mean(np.log([0.40, 0.35, 0.90, 0.70, 0.20]))


def test_ece_and_nll_two_bins_from_probabilities():
    report = evaluation.evaluate_predictions(PROBABILITIES, PROBABILITY_LABELS, [500] * 3, ece_bins=2)
    assert report["ece"] == pytest.approx(HAND_ECE)
    assert report["nll"] == pytest.approx(HAND_NLL)


def test_logits_give_the_same_calibration_as_their_probabilities():
    logits = np.log(PROBABILITIES) + 7.0  # softmax is shift-invariant
    report = evaluation.evaluate_predictions(logits, PROBABILITY_LABELS, [500] * 3, ece_bins=2)
    assert report["ece"] == pytest.approx(HAND_ECE)
    assert report["nll"] == pytest.approx(HAND_NLL)


def test_softmax_is_stable_for_large_logits():
    report = evaluation.evaluate_predictions([[1000.0, 0.0], [0.0, 1000.0]], [0, 0], [500, 5])
    assert report["nll"] == pytest.approx(500.0)  # (0 + 1000) / 2
    assert report["ece"] == pytest.approx(0.5)  # confidences 1, 1; accuracy 1/2
    json.dumps(report, allow_nan=False)


def test_top_confusion_pairs_order_and_names():
    matrix = [[5, 2, 0, 1], [3, 4, 0, 0], [0, 3, 1, 2], [2, 0, 0, 0]]
    pairs = evaluation.top_confusion_pairs(matrix, k=10)
    as_tuples = [(p["true"], p["predicted"], p["count"]) for p in pairs]
    assert as_tuples == [(1, 0, 3), (2, 1, 3), (0, 1, 2), (2, 3, 2), (3, 0, 2), (0, 3, 1)]
    named = evaluation.top_confusion_pairs(matrix, k=2, class_names=["a", "b", "c", "d"])
    assert named == [{"true": "b", "predicted": "a", "count": 3}, {"true": "c", "predicted": "b", "count": 3}]


def test_class_without_test_samples_and_json():
    labels = [0, 0, 1, 1]
    predictions = [0, 1, 1, 0]
    report = evaluation.evaluate_predictions(
        one_hot_logits(predictions, 3), labels, [500, 50, 5], class_names=["cat", "dog", "eel"]
    )
    assert report["per_class_accuracy"] == [50.0, 50.0, None]
    assert report["few"] is None  # its only class has no test samples
    assert report["balanced_accuracy"] == pytest.approx(50.0)
    assert report["g_mean"] == pytest.approx(0.5)
    assert report["macro_f1"] == pytest.approx(0.5)  # class 2 is neither a label nor a prediction
    assert report["confusion_matrix"][2] == [0, 0, 0]
    decoded = json.loads(json.dumps(report, allow_nan=False))
    assert decoded["class_names"] == ["cat", "dog", "eel"]
    assert decoded["train_counts"] == [500, 50, 5]


def test_empty_groups_are_none():
    report = evaluation.evaluate_predictions(one_hot_logits([0, 1], 2), [0, 1], [500, 200])
    assert report["group_sizes"] == {"many": 2, "medium": 0, "few": 0}
    assert report["many"] == 100.0
    assert report["medium"] is None and report["few"] is None


def test_bad_labels_are_rejected():
    with pytest.raises(DataError):
        evaluation.evaluate_predictions(np.zeros((2, 3)), [0, 3], [500] * 3)


@pytest.fixture
def small_report():
    labels = [0, 0, 1, 1, 2, 2, 2]
    predictions = [0, 1, 1, 1, 0, 2, 2]
    return evaluation.evaluate_predictions(
        one_hot_logits(predictions, 3), labels, [400, 60, 8], class_names=["airplane", "bird", "truck"]
    )


def test_format_table_lists_classes(small_report):
    table = evaluation.format_table(small_report)
    for name in ("airplane", "bird", "truck"):
        assert name in table
    assert "many" in table and "medium" in table and "few" in table
    assert "66.67%" in table  # truck: 2 of 3


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


def test_plots_write_png_files(small_report, tmp_path):
    evaluation.plot_per_class_accuracy(small_report, tmp_path / "per_class.png")
    evaluation.plot_confusion_matrix(small_report, tmp_path / "confusion.png")
    evaluation.plot_confusion_matrix(small_report, tmp_path / "confusion_counts.png", normalize=False)
    evaluation.plot_class_histogram([400, 60, 8], ["airplane", "bird", "truck"], tmp_path / "hist.png")
    for name in ("per_class.png", "confusion.png", "confusion_counts.png", "hist.png"):
        assert_png(tmp_path / name)


def test_plots_without_matplotlib_raise_keras_lt_error(small_report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(KerasLTError, match="pip install 'keras-lt\\[plots\\]'"):
        evaluation.plot_per_class_accuracy(small_report, tmp_path / "x.png")
