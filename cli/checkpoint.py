"""A checkpoint as `predict` and `evaluate` use it: the model, its class names and input size."""

from keras_lt import hub


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
    class_names = config.get("class_names") or [str(c) for c in range(config["num_classes"])]
    return model, class_names, tuple(model.input_shape[1:3])
