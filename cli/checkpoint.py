"""A checkpoint as `predict` and `evaluate` use it: the model, its class names, input size, training counts."""

import click

from keras_lt import hub
from keras_lt.data.file_sources import SPLIT_FILE_DATASETS
from keras_lt.errors import CheckpointError
from keras_lt.losses import canonical_name
from keras_lt.losses import posthoc_logit_adjustment


def load_model(name_or_path):
    """Loads a checkpoint with `keras_lt.from_pretrained` semantics.

    Args:
        name_or_path: a zoo name, a checkpoint directory or `hf://ORG/NAME[@REVISION]`.

    Returns:
        `(model, class_names, image_size)`: the class names in label order (the class ids as
        strings when the checkpoint has none) and the `(height, width)` the model takes.

    Example:
    >>> model, names, (height, width) = load_model("ce-resnet32-cifar10lt")
    """
    model = hub.from_pretrained(name_or_path)
    config = model.keras_lt_config
    class_names = config.get("class_names") or [str(c) for c in range(model.output_shape[-1])]
    return model, class_names, tuple(model.input_shape[1:3])


def is_streamed(dataset, config):
    """Whether a checkpoint's `dataset` is read as streamed data: the evaluation view (resize, centre crop).

    Split-file datasets (ImageNet-LT, Places-LT, iNaturalist 2018) always are, an image folder when
    the checkpoint's recipe streamed it (`"pipeline": "stream"`); the other data is fitted in memory
    (`keras_lt.data.image_folder.fit_image`: the shorter side scaled to the model's, centre crop).

    Example:
    >>> is_streamed("folder", model.keras_lt_config)
    False
    """
    recipe = config.get("recipe") or {}
    return dataset in SPLIT_FILE_DATASETS or (dataset == "folder" and recipe.get("pipeline") == "stream")


def train_counts(model, name_or_path, purpose):
    """The checkpoint's training images per class, or one `CheckpointError` line naming `purpose`.

    Example:
    >>> counts = train_counts(model, "runs/ce", "they define many/medium/few")
    """
    counts = model.keras_lt_config.get("train_class_counts")
    if not counts:
        raise CheckpointError(
            f"{name_or_path} has no train_class_counts ({purpose}); save it with "
            "keras_lt.save_pretrained(..., train_class_counts=COUNTS)."
        )
    return counts


PRIOR_LOSSES = ("balanced_softmax", "logit_adjusted")  # losses whose model already discounts the training prior


def adjusted_logits(model, name_or_path, logits, tau):
    """`logits - tau * log(training prior)` (post-hoc logit adjustment), or `logits` when `tau` is None.

    A checkpoint trained with a loss that adjusts for the prior itself (`PRIOR_LOSSES`) gets a note
    on stderr: the adjustment then discounts the prior a second time.
    """
    if tau is None:
        return logits
    counts = train_counts(model, name_or_path, "--logit-adjust needs the training prior")
    loss = (model.keras_lt_config.get("recipe") or {}).get("loss")
    if loss is not None and canonical_name(loss) in PRIOR_LOSSES:
        click.echo(
            f"note: {name_or_path} was trained with the {loss} loss, which already adjusts for the training prior; "
            "--logit-adjust discounts it a second time.", err=True,
        )
    return posthoc_logit_adjustment(logits, counts, tau)
