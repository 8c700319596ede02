"""Runs decoupled stage 2 on a checkpoint end to end: checkpoint + its training split -> checkpoint."""

import contextlib
import dataclasses
import os

import keras

from keras_lt import hub
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError
from keras_lt.errors import name_some
from keras_lt.own_data import folder_class_counts
from keras_lt.own_data import has_split_files
from keras_lt.own_data import is_image_folder
from keras_lt.recipes import RECIPE_FILE
from keras_lt.recipes import Recipe
from keras_lt.replacing import replacing
from keras_lt.run_directory import LOG_FILE
from keras_lt.run_directory import METRICS_FILE
from keras_lt.run_directory import check_only_ours
from keras_lt.run_directory import holds_checkpoint
from keras_lt.run_directory import is_interrupted
from keras_lt.run_lock import LOCK_FILE
from keras_lt.run_lock import RunLock
from keras_lt.trainers import decouple
from keras_lt.training import finish
from keras_lt.training_data import prepare_data

# What a decoupling writes in its output beside its config.json: a stopped save leaves the weights and card before it.
STAGE_TWO_FILES = (LOG_FILE, METRICS_FILE, LOCK_FILE, hub.WEIGHTS_FILE, hub.CARD_FILE)
SHOWN_NAMES = 5  # the class (or file) names a message shows


@dataclasses.dataclass
class _StageTwoRecipe(Recipe):
    """The recipe of a stage-2 checkpoint: its own settings, and the checkpoint it started from.

    `method` is "crt", "lws" or "tau-norm" (see `keras_lt.trainers.decouple`: cosine lr to 0, no
    warmup, class-balanced CE; `epochs` 0 for tau-norm, which trains nothing).

    Attributes:
        base_model: the checkpoint stage 2 started from, as it was given.
        base_recipe: that checkpoint's recipe (None when it has none).
        tau: the tau-norm exponent (None for cRT and LWS).
    """

    base_model: str | None = None
    base_recipe: dict | None = None
    tau: float | None = None


def decouple_checkpoint(
    model, method, output_dir=None, data_dir=None, dataset=None, imbalance_factor=None, overwrite=False,
    verbose="auto", **settings
):
    """Loads a checkpoint, runs cRT / LWS / tau-norm on its training split, evaluates and saves.

    The training split is selected as at training time: the dataset, imbalance factor and LDAM
    selection seed of the checkpoint's recipe, or of the options when it has none (or they are
    given). The new checkpoint is named `<base name>-<method>`, the base name taken from `model` as
    given (a zoo name, the directory's name, the Hub repo's name), never from a file; its recipe
    records the stage-2 settings and the base checkpoint's recipe. The data must have the
    checkpoint's classes (`_check_classes`). The output directory is locked while it is written
    (`keras_lt.run_lock.RunLock`); one holding this decoupling's checkpoint is refused unless
    `overwrite`, one holding another checkpoint, a training run or other files always (`_check_output`).
    The checkpoint it replaces stays until the new one is written, and is put back if the decoupling
    stops (`keras_lt.replacing.replacing`).

    Args:
        model: a zoo name, a checkpoint directory or `hf://ORG/NAME[@REVISION]`.
        method: "crt", "lws" or "tau-norm".
        output_dir: where the checkpoint, `train_log.csv` and `metrics.json` go; defaults to the
            local checkpoint of the new name (so `from_pretrained(name)` loads it).
        data_dir: directory of the data (see `keras_lt.data.load_dataset`).
        dataset: the dataset name, overriding the checkpoint's recipe (default "cifar10" without one).
        imbalance_factor: the long-tail profile, overriding the checkpoint's recipe (default 100
            without one); 0 uses the training split as it is.
        overwrite: replace the checkpoint of this decoupling (`<base name>-<method>`) in `output_dir`
            once the new one is written.
        verbose: Keras' fit verbosity.
        **settings: forwarded to `keras_lt.trainers.decouple` (epochs, lr, tau, seed, ...).

    Returns:
        `(report, output_dir)`: the evaluation report of the new model and where it was saved.

    Example:
    >>> report, path = decouple_checkpoint("ce-resnet32-cifar10lt", "crt", data_dir="data", epochs=3)
    """
    name = f"{_base_name(model)}-{method}"
    if output_dir is None and not hub.is_model_name(name):
        raise KerasLTError(f"cannot name a checkpoint '{name}' (letters, digits, '.', '_', '-'); pass --output.")
    output_dir = output_dir or os.path.join(hub.local_checkpoints_dir(), name)
    _check_output(output_dir, name, overwrite)
    network = hub.from_pretrained(model)
    config = network.keras_lt_config
    base = _base_recipe(config.get("recipe"), name, dataset, imbalance_factor)
    base = dataclasses.replace(base, image_size=list(network.input_shape[1:3]))  # fitted to what the model takes
    source = data_dir or base.dataset
    if is_image_folder(data_dir) and not has_split_files(base.dataset, data_dir):  # before a long-tail profile,
        _check_classes(model, config, folder_class_counts(data_dir)[0], source)  # which fails on others' counts
    data = prepare_data(base, data_dir)
    _check_classes(model, config, data.class_names, source)
    replace = overwrite and holds_checkpoint(output_dir)  # aside until the new one is written, back if it fails
    with replacing(output_dir, keeps_stopped=lambda output: False) if replace else contextlib.nullcontext(), \
            RunLock(output_dir):
        _check_output(output_dir, name, overwrite)
        log = keras.callbacks.CSVLogger(os.path.join(output_dir, LOG_FILE))
        decoupled = decouple(
            network, method, data.train_images, data.train_labels, callbacks=[log], verbose=verbose, **settings
        )
        stage_two = {
            **dataclasses.asdict(base),
            "name": name,
            "architecture": config["architecture"]["name"],
            "classifier": config["architecture"].get("classifier", "linear"),
            "loss": "ce",
            "loss_config": {},
            "warmup_epochs": 0,
            "milestones": [],
            "factors": [],
            "drw_epoch": None,
            "ga_epoch": None,
            "cpmix_epoch": None,
            "method_config": {},
            "mixer": None,  # the base's ingredients are its recipe's (base_recipe), not this stage's
            "regularizers": [],
            **decoupled.keras_lt_config["decoupling"],
        }
        recipe = _StageTwoRecipe(**stage_two, base_model=model, base_recipe=config.get("recipe"))
        return finish(decoupled, recipe, data, output_dir, data_dir), output_dir


def _base_name(model):
    """The name of the checkpoint `model` refers to, from the argument alone: zoo name, directory or repo name."""
    if model.startswith(hub.HF_PREFIX):
        return model[len(hub.HF_PREFIX):].split("@", 1)[0].rstrip("/").split("/")[-1]
    return os.path.basename(os.path.abspath(model)) if os.path.isdir(model) else model


def _check_output(output_dir, name, overwrite):
    """Refuses an output holding a training run, another checkpoint, `name`'s without `overwrite`, or other files.

    Other files are those a decoupling does not write (`STAGE_TWO_FILES` and the checkpoint's).
    """
    if is_interrupted(output_dir) or os.path.isfile(os.path.join(output_dir, RECIPE_FILE)):
        raise KerasLTError(f"{output_dir} holds a training run; choose another --output.")
    if holds_checkpoint(output_dir):
        existing = hub.read_config(output_dir).get("name")
        if existing != name:
            raise KerasLTError(f"{output_dir} holds another checkpoint ({existing}); choose another --output.")
        if not overwrite:
            raise KerasLTError(
                f"{output_dir} holds a finished decoupling (its checkpoint {name}); choose another --output, or pass "
                "--overwrite to decouple it again."
            )
    check_only_ours(output_dir, STAGE_TWO_FILES, "decoupling")


def _check_classes(model, config, class_names, source):
    """Raises one `DataError` line unless the data's `class_names` are the checkpoint's (`config`'s), count and names.

    A checkpoint saved without class names is compared by count alone; `source` names the data.
    """
    expected, count = config.get("class_names") or [], config["architecture"]["num_classes"]
    if len(class_names) == count and (not expected or list(class_names) == list(expected)):
        return
    raise DataError(
        f"{source} has {len(class_names)} classes ({name_some(list(class_names), SHOWN_NAMES)}), {model} was "
        f"trained on {count} ({name_some(expected, SHOWN_NAMES) if expected else 'names not saved'}); decoupling "
        "re-balances the checkpoint's own classes: give --data-dir the data it was trained on."
    )


def _base_recipe(stored, name, dataset, imbalance_factor):
    """The base checkpoint's recipe (its `Recipe` fields), or a default one, with the data options applied."""
    recipe = Recipe.from_stored(stored or {"name": name})
    overrides = {}
    if dataset is not None:
        overrides["dataset"] = dataset
    if imbalance_factor is not None:
        overrides["imbalance_factor"] = imbalance_factor or None
    return dataclasses.replace(recipe, **overrides)
