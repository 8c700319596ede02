"""A checkpoint's `config.json` and weights header, checked before a model is built from them.

A malformed checkpoint (hand-edited, truncated, crafted) then fails in one `CheckpointError` line
naming the field, instead of a traceback, a huge allocation (a `num_classes` of 2e9 builds a
classifier of gigabytes) or a model that predicts NaN (integer or bool weights).
"""

import collections

from keras_lt.errors import CheckpointError
from keras_lt.ranges import is_number
from keras_lt.ranges import shown

MAX_CLASSES = 100_000
MAX_IMAGE_SIDE = 1024
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
# config key -> (weights whose last dimension it must equal)
_SIZED_BY = {"num_classes": "classifier/kernel", "latent_categories": "latent_categories/latent_kernel"}
_SECTIONS = ("dataset", "recipe", "metrics", "run", "preprocessing")


def check_config(config, where, remedy="save the checkpoint again with keras_lt.save_pretrained"):
    """Raises one `CheckpointError` line unless `config` has the types, ranges and lengths keras-lt reads.

    Checked: the architecture (a name, `num_classes` in 1..100000, an RGB `input_shape` of at most
    1024 x 1024, three `mean` / `std` numbers), a top-level `num_classes` equal to the
    architecture's, `class_names` (distinct strings) and `train_class_counts` (positive integers:
    training refuses a class without images) with one entry per class, the sections (`dataset`,
    `recipe`, `metrics`, ...) as objects, and the headline metrics as numbers.

    Args:
        config: the parsed `config.json`.
        where: the file (or what was being done), for the message.
        remedy: what to do, for the message.

    Example:
    >>> check_config(json.load(open("runs/ce/config.json")), "runs/ce/config.json")
    """

    def fail(problem):
        raise CheckpointError(f"{where}: {problem}; {remedy}.")

    if not isinstance(config, dict):
        fail("it is not a JSON object")
    architecture = config.get("architecture")
    if not isinstance(architecture, dict) or not isinstance(architecture.get("name"), str):
        fail("architecture needs a name")
    num_classes = architecture.get("num_classes")
    if not is_number(num_classes, integer=True) or not 1 <= num_classes <= MAX_CLASSES:
        fail(f"architecture num_classes must be an integer in 1..{MAX_CLASSES}, not {shown(num_classes)}")
    if config.get("num_classes", num_classes) != num_classes:
        fail(f"num_classes {shown(config['num_classes'])} differs from the architecture's {num_classes}")
    shape = architecture.get("input_shape")
    if shape is not None and not (
        isinstance(shape, list) and len(shape) == 3 and all(is_number(n, integer=True) for n in shape)
        and shape[2] == 3 and all(1 <= n <= MAX_IMAGE_SIDE for n in shape[:2])
    ):
        fail(f"input_shape must be [height, width, 3] with sides of 1..{MAX_IMAGE_SIDE}, not {shown(shape)}")
    for key in ("mean", "std"):
        values = architecture.get(key)
        if values is not None and not (isinstance(values, list) and len(values) == 3 and all(map(is_number, values))):
            fail(f"architecture {key} must be 3 numbers, not {shown(values)}")
    if any(s <= 0 for s in architecture.get("std") or ()):
        fail("architecture std must be positive")
    latent = architecture.get("latent_categories")
    if latent is not None and (not is_number(latent, integer=True) or not 1 <= latent <= MAX_CLASSES):
        fail(f"latent_categories must be an integer in 1..{MAX_CLASSES}, not {shown(latent)}")
    names = config.get("class_names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) not in (0, num_classes):
        fail(f"class_names must be {num_classes} strings (one per class)")
    repeated = next((name for name, count in collections.Counter(names).items() if count > 1), None)
    if repeated is not None:
        fail(f"class_names hold {repeated!r} more than once (each class needs its own name)")
    counts = config.get("train_class_counts") or []
    if not isinstance(counts, list) or not all(is_number(n, integer=True) and n > 0 for n in counts) or len(counts) not in (0, num_classes):
        fail(f"train_class_counts must be {num_classes} positive integers (one per class)")
    for section in _SECTIONS:
        if config.get(section) is not None and not isinstance(config[section], dict):
            fail(f"{section} must be an object")
    metrics = config.get("metrics") or {}
    bad = sorted(k for k, v in metrics.items() if v is not None and not isinstance(v, (dict, list)) and not is_number(v))
    if bad:
        fail(f"metrics {', '.join(bad)} must be numbers")


def check_weights(config, path):
    """Raises one `CheckpointError` line unless the weights file at `path` fits `config` (a checked one).

    Reads only the safetensors header: every tensor must be floating point (keras-lt weights are;
    integer or bool ones would load as garbage), and the classifier (and LCReg's latent layer) must
    have the number of outputs the config declares, so a model is never built larger than its
    weights.

    Args:
        config: a config that `check_config` passed.
        path: the `model.safetensors` file.

    Example:
    >>> check_weights(config, "runs/ce/model.safetensors")
    """
    from safetensors import SafetensorError
    from safetensors import safe_open

    try:
        with safe_open(path, "np") as f:
            header = {key: (f.get_slice(key).get_dtype(), f.get_slice(key).get_shape()) for key in f.keys()}
    except (OSError, SafetensorError) as error:
        raise CheckpointError(f"cannot read {path}: {error}") from None
    not_float = sorted(key for key, (dtype, _) in header.items() if dtype not in FLOAT_DTYPES)
    if not_float:
        raise CheckpointError(
            f"{path}: weight {not_float[0]} is {header[not_float[0]][0]}; keras-lt weights are floating point."
        )
    architecture = config["architecture"]
    for key, weight in _SIZED_BY.items():
        expected = architecture.get(key)
        if expected is None:
            continue
        found = next((shape for name, (_, shape) in header.items() if name.endswith(weight)), None)
        if found is None or not found or found[-1] != expected:
            raise CheckpointError(
                f"{path}: the config declares {key} {expected}, the weights' {weight} has shape {found}."
            )
