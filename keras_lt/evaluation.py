"""Long-tailed evaluation: metrics, confusion pairs, a text table and plots, in pure NumPy.

Units, everywhere in this module:

- percentages (0..100): `top1`, `top5`, `many`, `medium`, `few`, `per_class_accuracy`,
  `balanced_accuracy`;
- fractions (0..1): `macro_f1`, `g_mean`, `ece`;
- nats: `nll`.

Shot groups use the *training* counts (many > 100, few < 20, medium 20..100 by default), and a
group's accuracy is the mean of the per-class accuracies of its classes, as long-tailed papers report.

The plots need matplotlib (the `plots` extra); it is imported only when a plot is drawn, and only
`matplotlib.figure.Figure` is used, so no global pyplot state or GUI backend is touched.
"""

import numpy as np

from keras_lt.data.profiles import shot_groups
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError

GROUPS = ("many", "medium", "few")
GROUP_COLORS = {"many": "tab:blue", "medium": "tab:orange", "few": "tab:red"}
MAX_LABELLED_CLASSES = 30  # above this many classes, plots drop per-class tick labels
MAX_ANNOTATED_CLASSES = 10  # up to this many classes, confusion-matrix cells show their values


# ----------------------------------------------------------------------------------------- metrics


def evaluate_predictions(
    logits,
    labels,
    train_counts,
    class_names=None,
    many_threshold=100,
    few_threshold=20,
    ece_bins=15,
    from_logits=None,
):
    """Top-k, shot-group, per-class, F1, G-mean, calibration and confusion metrics of predictions.

    Scores may be logits or probabilities. With `from_logits=None` (the default) rows that are
    non-negative and sum to 1 are taken as probabilities, anything else as logits, which are turned
    into probabilities with a numerically stable softmax (the row maximum is subtracted first).

    Per-class accuracy is the recall of the class on the test set. A class with no test samples has
    accuracy None and is left out of the group means, balanced accuracy and G-mean; macro-F1
    averages over the classes that occur among the labels or the predictions.

    Args:
        logits: scores of shape (N, C): logits or probabilities.
        labels: N integer labels in [0, C).
        train_counts: C training image counts, which define the shot groups.
        class_names: C names; defaults to the class ids as strings.
        many_threshold: a class with more training images than this is many-shot.
        few_threshold: a class with fewer training images than this is few-shot.
        ece_bins: number of equal-width confidence bins of the ECE.
        from_logits: True for logits, False for probabilities, None to detect.

    Returns:
        A JSON-serialisable dict (plain ints, floats, lists, None; no NaN) with keys `num_samples`,
        `top1`, `top5` (top-k with k = min(5, C)), `many`, `medium`, `few` (None for an empty
        group), `group_sizes` (classes per group), `thresholds`, `per_class_accuracy`, `macro_f1`,
        `balanced_accuracy`, `g_mean`, `ece`, `nll`, `confusion_matrix` (C x C, rows = true,
        columns = predicted), `train_counts`, `class_names`. Units are in the module docstring.

    Example:
    >>> report = evaluate_predictions([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], [0, 1, 1], [500, 10])
    >>> round(report["top1"], 2), report["many"], report["few"], report["confusion_matrix"]
    (66.67, 100.0, 50.0, [[1, 0], [1, 1]])
    """
    scores, labels, train_counts = _check_inputs(logits, labels, train_counts)
    num_classes = scores.shape[1]
    class_names = _class_names(class_names, num_classes)
    log_probs = _log_probabilities(scores, from_logits)
    predictions = np.argmax(log_probs, axis=1)
    confusion = confusion_matrix(labels, predictions, num_classes)
    per_class = _per_class_accuracy(confusion)
    groups = shot_groups(train_counts, many_threshold, few_threshold)
    return {
        "num_samples": int(len(labels)),
        "top1": float(100.0 * np.mean(predictions == labels)),
        "top5": float(100.0 * np.mean(_top_k_hits(log_probs, labels, min(5, num_classes)))),
        **{name: _mean_or_none(per_class[idx]) for name, idx in groups.items()},
        "group_sizes": {name: int(len(idx)) for name, idx in groups.items()},
        "thresholds": {"many": many_threshold, "few": few_threshold},
        "per_class_accuracy": [None if np.isnan(a) else float(a) for a in per_class],
        "macro_f1": _macro_f1(confusion),
        "balanced_accuracy": _mean_or_none(per_class),
        "g_mean": _g_mean(per_class / 100.0),
        "ece": _expected_calibration_error(log_probs, labels, ece_bins),
        "nll": float(-np.mean(log_probs[np.arange(len(labels)), labels])),
        "confusion_matrix": confusion.tolist(),
        "train_counts": [int(n) for n in train_counts],
        "class_names": class_names,
    }


def confusion_matrix(labels, predictions, num_classes):
    """Counts of (true, predicted) pairs.

    Args:
        labels: N integer true labels in [0, num_classes).
        predictions: N integer predicted labels in [0, num_classes).
        num_classes: number of classes C.

    Returns:
        An int64 array of shape (C, C); rows are true classes, columns predicted classes.

    Example:
    >>> confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist()
    [[1, 0], [1, 1]]
    """
    flat = np.asarray(labels, dtype=np.int64) * num_classes + np.asarray(predictions, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def top_confusion_pairs(confusion_matrix, k=10, class_names=None):
    """The k most frequent off-diagonal (true, predicted) pairs of a confusion matrix.

    Args:
        confusion_matrix: C x C counts, rows = true, columns = predicted (array or nested lists).
        k: number of pairs to return at most; pairs with a zero count are never returned.
        class_names: optional C names; when given, `true` and `predicted` are names, else class ids.

    Returns:
        A list of dicts `{"true", "predicted", "count"}` sorted by count, descending; ties are
        ordered by true class id, then predicted class id.

    Example:
    >>> top_confusion_pairs([[5, 2, 0], [3, 4, 0], [0, 3, 1]], k=2)
    [{'true': 1, 'predicted': 0, 'count': 3}, {'true': 2, 'predicted': 1, 'count': 3}]
    """
    counts = np.array(confusion_matrix, dtype=np.int64)
    np.fill_diagonal(counts, 0)
    true_ids, predicted_ids = np.nonzero(counts)
    pair_counts = counts[true_ids, predicted_ids]
    order = np.lexsort((predicted_ids, true_ids, -pair_counts))[:k]
    name = (lambda c: int(c)) if class_names is None else (lambda c: class_names[c])
    return [
        {"true": name(true_ids[i]), "predicted": name(predicted_ids[i]), "count": int(pair_counts[i])}
        for i in order
    ]


def _check_inputs(logits, labels, train_counts):
    """Validated float64 scores (N, C), int64 labels (N,) and train counts (C,)."""
    scores = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    train_counts = np.asarray(train_counts)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise DataError(f"scores must have shape (N, C) with N, C >= 1, got {scores.shape}.")
    if not np.all(np.isfinite(scores)):
        raise DataError("scores contain NaN or infinite values; check the model's outputs.")
    if labels.shape != (scores.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"labels must be {scores.shape[0]} integers, got {labels.dtype} {labels.shape}.")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise DataError(f"labels must lie in [0, {scores.shape[1]}), got {labels.min()}..{labels.max()}.")
    if train_counts.shape != (scores.shape[1],):
        raise DataError(f"train_counts must have {scores.shape[1]} entries, got shape {train_counts.shape}.")
    return scores, labels.astype(np.int64), train_counts


def _class_names(class_names, num_classes):
    """The given names as strings, or the class ids as strings."""
    if class_names is None:
        return [str(c) for c in range(num_classes)]
    if len(class_names) != num_classes:
        raise DataError(f"class_names must have {num_classes} entries, got {len(class_names)}.")
    return [str(name) for name in class_names]


def log_softmax(logits):
    """Row-wise log-softmax of a NumPy array, with the row maximum subtracted first."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _log_probabilities(scores, from_logits):
    """Log-probabilities from logits (stable log-softmax) or from probabilities."""
    if from_logits is None:
        from_logits = not (np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4))
    if not from_logits:
        return np.log(np.maximum(scores, np.finfo(np.float64).tiny))
    return log_softmax(scores)


def _top_k_hits(scores, labels, k):
    """Boolean per sample: the label is among the k highest scores (ties broken by lower class id)."""
    top_k = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.any(top_k == labels[:, None], axis=1)


def _per_class_accuracy(confusion):
    """Per-class recall in percent; NaN for a class with no test samples."""
    support = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, 100.0 * np.diag(confusion) / support, np.nan)


def _mean_or_none(values):
    """Mean of the non-NaN values as a float, or None when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None


def _macro_f1(confusion):
    """Mean F1 over the classes that occur among the labels or the predictions, as a fraction."""
    true_positives = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # 2 TP + FP + FN
    present = denominator > 0
    return float(np.mean(2.0 * true_positives[present] / denominator[present]))


def _g_mean(recalls):
    """Geometric mean of the non-NaN recalls (fractions); 0 when any recall is 0."""
    recalls = recalls[~np.isnan(recalls)]
    if np.any(recalls == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(recalls))))


def _expected_calibration_error(log_probs, labels, num_bins):
    """ECE of the top-1 confidence over equal-width bins (lo, hi] of [0, 1], as a fraction."""
    confidence = np.exp(log_probs.max(axis=1))
    correct = np.argmax(log_probs, axis=1) == labels
    bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
    gaps = np.bincount(bins, weights=correct - confidence, minlength=num_bins)  # per bin: sum(acc - conf)
    return float(np.abs(gaps).sum() / len(labels))


# --------------------------------------------------------------------------------------- text table


def format_table(report):
    """A plain-text summary of a report: overall metrics, shot groups and a per-class table.

    Args:
        report: a dict returned by `evaluate_predictions`.

    Returns:
        A multi-line string, for the CLI's `--format table`.

    Example:
    >>> report = evaluate_predictions([[2.0, 0.0], [0.0, 1.0]], [0, 1], [500, 10], ["cat", "dog"])
    >>> print(format_table(report).splitlines()[0])
    samples 2  top-1 100.00%  top-5 100.00%  balanced 100.00%
    """
    lines = [
        f"samples {report['num_samples']}  top-1 {_fmt_percent(report['top1'])}  "
        f"top-5 {_fmt_percent(report['top5'])}  balanced {_fmt_percent(report['balanced_accuracy'])}",
        f"macro-F1 {report['macro_f1']:.4f}  G-mean {report['g_mean']:.4f}  "
        f"ECE {report['ece']:.4f}  NLL {report['nll']:.4f}",
        "  ".join(
            f"{group} {_fmt_percent(report[group])} ({report['group_sizes'][group]} classes)"
            for group in GROUPS
        ),
        "",
    ]
    groups = _class_groups(report["train_counts"], **_thresholds(report))
    test_counts = np.sum(report["confusion_matrix"], axis=1)
    name_width = max(5, *(len(name) for name in report["class_names"]))
    lines.append(f"{'id':>4}  {'class':<{name_width}}  {'train':>7}  {'test':>6}  {'group':<6}  {'accuracy':>8}")
    for c, name in enumerate(report["class_names"]):
        lines.append(
            f"{c:>4}  {name:<{name_width}}  {report['train_counts'][c]:>7}  {test_counts[c]:>6}  "
            f"{groups[c]:<6}  {_fmt_percent(report['per_class_accuracy'][c]):>8}"
        )
    return "\n".join(lines)


def _fmt_percent(value):
    return "n/a" if value is None else f"{value:.2f}%"


def _thresholds(report):
    """The shot-group thresholds a report was computed with (the defaults for older reports)."""
    thresholds = report.get("thresholds", {})
    return {"many_threshold": thresholds.get("many", 100), "few_threshold": thresholds.get("few", 20)}


def _class_groups(train_counts, many_threshold=100, few_threshold=20):
    """The shot-group name of each class, indexed by class id."""
    names = np.empty(len(train_counts), dtype=object)
    for group, idx in shot_groups(train_counts, many_threshold, few_threshold).items():
        names[idx] = group
    return list(names)


# -------------------------------------------------------------------------------------------- plots


def plot_per_class_accuracy(report, path):
    """Bar chart of per-class accuracy, classes sorted by training count, with the counts as a line.

    Bars are coloured by shot group; the training counts are drawn on a secondary (log) axis. A
    class with no test samples gets no bar.

    Args:
        report: a dict returned by `evaluate_predictions`.
        path: where to write the PNG.

    Example:
    >>> plot_per_class_accuracy(report, "per_class.png")  # doctest: +SKIP
    """
    counts = np.asarray(report["train_counts"])
    order = np.argsort(-counts, kind="stable")
    accuracy = np.array([np.nan if a is None else a for a in report["per_class_accuracy"]])[order]
    groups = _class_groups(counts, **_thresholds(report))
    figure = _new_figure(figsize=(max(6.0, 0.25 * len(order)), 4.0))
    axes = figure.add_subplot()
    positions = np.arange(len(order))
    axes.bar(positions, accuracy, color=[GROUP_COLORS[groups[c]] for c in order])
    axes.set_ylim(0, 100)
    axes.set_ylabel("test accuracy (%)")
    axes.set_xlabel("classes, by training count")
    _class_ticks(axes.set_xticks, positions, [report["class_names"][c] for c in order], rotation=90)
    count_axes = axes.twinx()
    count_axes.plot(positions, counts[order], color="black", marker=".")
    count_axes.set_yscale("log")
    count_axes.set_ylabel("training images")
    _group_legend(axes, groups)
    axes.set_title(f"Per-class accuracy (top-1 {report['top1']:.2f}%)")
    _save(figure, path)


def plot_confusion_matrix(report, path, normalize=True):
    """Heat map of the confusion matrix, rows = true, columns = predicted.

    Args:
        report: a dict returned by `evaluate_predictions`.
        path: where to write the PNG.
        normalize: divide each row by its number of test samples (rows with none stay 0).

    Example:
    >>> plot_confusion_matrix(report, "confusion.png")  # doctest: +SKIP
    """
    matrix = np.asarray(report["confusion_matrix"], dtype=np.float64)
    if normalize:
        support = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, support, out=np.zeros_like(matrix), where=support > 0)
    num_classes = len(matrix)
    figure = _new_figure(figsize=(max(5.0, 0.2 * num_classes), max(4.0, 0.2 * num_classes)))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    figure.colorbar(image, ax=axes, label="fraction of the true class" if normalize else "count")
    positions = np.arange(num_classes)
    _class_ticks(axes.set_xticks, positions, report["class_names"], rotation=90)
    _class_ticks(axes.set_yticks, positions, report["class_names"])
    if num_classes <= MAX_ANNOTATED_CLASSES:
        dark = 0.5 * matrix.max()
        for (row, column), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            color = "white" if value > dark else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=7, color=color)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    _save(figure, path)


def plot_class_histogram(train_counts, class_names, path, many_threshold=100, few_threshold=20):
    """Bar chart of the training counts sorted descending, coloured by many/medium/few.

    Args:
        train_counts: C training image counts.
        class_names: C names, or None for the class ids.
        path: where to write the PNG.
        many_threshold: a class with more training images than this is many-shot.
        few_threshold: a class with fewer training images than this is few-shot.

    Example:
    >>> plot_class_histogram([500, 60, 5], ["a", "b", "c"], "classes.png")  # doctest: +SKIP
    """
    counts = np.asarray(train_counts)
    names = _class_names(class_names, len(counts))
    order = np.argsort(-counts, kind="stable")
    groups = _class_groups(counts, many_threshold, few_threshold)
    figure = _new_figure(figsize=(max(6.0, 0.25 * len(order)), 4.0))
    axes = figure.add_subplot()
    positions = np.arange(len(order))
    axes.bar(positions, counts[order], color=[GROUP_COLORS[groups[c]] for c in order])
    axes.set_ylabel("training images")
    axes.set_xlabel("classes, by training count")
    _class_ticks(axes.set_xticks, positions, [names[c] for c in order], rotation=90)
    _group_legend(axes, groups)
    axes.set_title(f"Training set: {int(counts.sum())} images, {len(counts)} classes")
    _save(figure, path)


def figure_class():
    """matplotlib's pyplot-free `Figure` class, or one `KerasLTError` line when matplotlib is not installed.

    A command asked for a plot calls it first, so a missing matplotlib fails before the work, not after it.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise KerasLTError("plots need matplotlib: pip install 'keras-lt[plots]'") from error
    return Figure


def _new_figure(figsize):
    """A pyplot-free matplotlib Figure."""
    return figure_class()(figsize=figsize, layout="constrained")


def _class_ticks(set_ticks, positions, names, rotation=0):
    """Per-class tick labels, or none when there are too many classes to read them."""
    if len(names) <= MAX_LABELLED_CLASSES:
        set_ticks(positions, names, rotation=rotation, fontsize=7)
    else:
        set_ticks([])


def _group_legend(axes, groups):
    """A legend of the shot-group colours of the groups present."""
    from matplotlib.patches import Patch

    handles = [Patch(color=GROUP_COLORS[g], label=g) for g in GROUPS if g in groups]
    axes.legend(handles=handles, loc="upper right", fontsize=8)


def _save(figure, path):
    figure.savefig(path, dpi=120, format="png")
