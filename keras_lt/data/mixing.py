"""Mixing on the device (CP-Mix): confusion counting, confusion-pair sampling, imbalance-aware mixup.

Pure torch functions on the training device; every draw takes an explicit `torch.Generator`, and
nothing loops over samples in Python.
"""

import torch


def confusion_counts(labels, predictions, num_classes):
    """C x C float32 counts of the misclassified `(true, predicted)` pairs of a batch.

    Correct predictions count nothing, so the diagonal stays 0. Uses `index_add_` (no host sync).

    Args:
        labels: int64 tensor `(B,)` of true classes.
        predictions: int64 tensor `(B,)` of predicted classes.
        num_classes: number of classes C.

    Returns:
        A float32 tensor `(C, C)`, rows = true class, columns = predicted class.

    Example:
    >>> confusion_counts(torch.tensor([0, 1, 1]), torch.tensor([1, 1, 0]), 2).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    flat = labels * num_classes + predictions
    wrong = (labels != predictions).to(torch.float32)
    counts = torch.zeros(num_classes * num_classes, device=labels.device).index_add_(0, flat, wrong)
    return counts.reshape(num_classes, num_classes)


def sample_confusion_pairs(confusion, class_counts, size, generator):
    """Draws `size` (anchor, partner) class pairs: anchors uniformly, partners from the anchor's row.

    The anchor `c_i` is uniform over the classes that have training images; the partner `c_j` has
    probability `Q[c_i, j] / sum_j Q[c_i, j]` over the classes `j != c_i` with training images
    (the diagonal and empty classes get weight 0, so a full confusion matrix works as well as
    CP-Mix's misclassification counts), and is uniform over those classes when that row is empty.

    Args:
        confusion: `(C, C)` tensor of counts `Q`, rows = true class.
        class_counts: `(C,)` tensor of training images per class.
        size: number of pairs.
        generator: a `torch.Generator` on the tensors' device.

    Returns:
        `(anchors, partners)`, two int64 tensors `(size,)`.

    Example:
    >>> anchors, partners = sample_confusion_pairs(q, counts, 128, torch.Generator().manual_seed(0))
    """
    present = (class_counts > 0).to(torch.float32)
    anchors = torch.multinomial(present, size, replacement=True, generator=generator)
    allowed = present * (1.0 - torch.nn.functional.one_hot(anchors, len(present)).to(torch.float32))
    rows = confusion[anchors].to(torch.float32) * allowed
    weights = torch.where(rows.sum(1, keepdim=True) > 0, rows, allowed)
    partners = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    return anchors, partners


def label_weight(lam, n_i, n_j, rho=0.5):
    """CP-Mix's imbalance-aware label weight of class i: `(1 - rho) * lam + rho * n_j / (n_i + n_j)`.

    The rarer class of the pair gets more label mass; `rho = 0` is vanilla mixup's `lam`.

    Args:
        lam: mixing weights of the first images, `(B,)`.
        n_i: training counts of the first images' classes, `(B,)`.
        n_j: training counts of the second images' classes, `(B,)`.
        rho: share of the count term.

    Returns:
        `(B,)` float32 weights of the first class in the soft label.

    Example:
    >>> label_weight(torch.tensor([0.5]), torch.tensor([300.0]), torch.tensor([100.0]))
    tensor([0.3750])
    """
    n_i, n_j = n_i.to(torch.float32), n_j.to(torch.float32)
    return (1.0 - rho) * lam + rho * n_j / (n_i + n_j)


def mix(images_i, images_j, labels_i, labels_j, lam, lam_y, num_classes):
    """Pairwise mixup: `x = lam x_i + (1 - lam) x_j`, `y = lam_y onehot(y_i) + (1 - lam_y) onehot(y_j)`.

    Images are mixed as float32 in their own range (0..255 here: before the model's normalisation).

    Args:
        images_i: `(B, H, W, C)` images (any dtype).
        images_j: `(B, H, W, C)` partner images.
        labels_i: int64 `(B,)` classes of `images_i`.
        labels_j: int64 `(B,)` classes of `images_j`.
        lam: `(B,)` image weights of `images_i`.
        lam_y: `(B,)` label weights of `labels_i` (`lam` for vanilla mixup, or `label_weight`).
        num_classes: number of classes.

    Returns:
        `(images, soft_labels)`: float32 `(B, H, W, C)` and float32 `(B, num_classes)`.

    Example:
    >>> x, y = mix(x_i, x_j, y_i, y_j, lam, label_weight(lam, counts[y_i], counts[y_j]), 10)
    """
    w = lam.to(torch.float32).reshape(-1, *([1] * (images_i.dim() - 1)))
    images = w * images_i.to(torch.float32) + (1.0 - w) * images_j.to(torch.float32)
    one_hot = torch.nn.functional.one_hot
    w_y = lam_y.to(torch.float32)[:, None]
    soft = w_y * one_hot(labels_i, num_classes) + (1.0 - w_y) * one_hot(labels_j, num_classes)
    return images, soft
