"""Runs a recipe end to end: data -> device batches -> trainer -> checkpoint + evaluation."""

import contextlib
import csv
import dataclasses
import inspect
import json
import os
import platform
import shutil

import keras
import numpy as np
import torch

from keras_lt import __version__
from keras_lt import callbacks as lt_callbacks
from keras_lt import distributed
from keras_lt import hub
from keras_lt import losses
from keras_lt import models
from keras_lt.data import long_tailed_counts
from keras_lt.data import long_tailed_indices
from keras_lt.data import load_dataset
from keras_lt.data import load_image_files
from keras_lt.data.file_sources import SPLIT_FILE_DATASETS
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.pipeline import AUGMENTATIONS
from keras_lt.data.samplers import SAMPLERS
from keras_lt.data.image_files import DEFAULT_IMAGE_SIZE
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.image_folder import read_images
from keras_lt.data.splits import stratified_split
from keras_lt.data.streaming import STREAMING_AUGMENTATIONS
from keras_lt.data.batch_choice import training_batches
from keras_lt.distributed.restore_only_backup import RestoreOnlyBackup
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError
from keras_lt.errors import did_you_mean
from keras_lt.evaluation import evaluate_predictions
from keras_lt.files import atomic_write
from keras_lt.inference import predict_logits
from keras_lt.kill_points import kill_point
from keras_lt.models.resnet import IMAGENET_MEAN
from keras_lt.models.resnet import IMAGENET_STD
from keras_lt.recipes import RECIPE_FILE
from keras_lt.recipes import Recipe
from keras_lt.run_lock import RunLock
from keras_lt.trainers import SGD
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import WarmupCosine
from keras_lt.trainers import WarmupMultiStep
from keras_lt.trainers import STAGE2
from keras_lt.trainers import STAGE2_CHECKS
from keras_lt.trainers import loss_switches
from keras_lt.trainers import trainer_ingredients
from keras_lt.trainers.stage2 import BACKUP_DIR as FINETUNE_BACKUP_DIR

BACKUP_DIR = "backup"
BEST_DIR = "best_val"  # the best epoch on the validation split, while a run that selects on it trains
STAGE1_DIR = "stage1"  # the finished stage 1 of a recipe with a finetune, until the run is done
LOG_FILE = "train_log.csv"
METRICS_FILE = "metrics.json"
FINETUNE_LOG_FILE = "finetune_log.csv"
PRE_FINETUNE_METRICS_FILE = "metrics_before_finetune.json"
RUN_STATE = (FINETUNE_BACKUP_DIR, STAGE1_DIR, BACKUP_DIR, BEST_DIR)  # what a run keeps until its checkpoint replaces it
RUN_FILES = (RECIPE_FILE, LOG_FILE, FINETUNE_LOG_FILE, PRE_FINETUNE_METRICS_FILE)  # written as a run starts and trains
HOLDOUT = 0.2  # the test share held out of an image folder that has no test/ split
DATASET_TITLES = {
    "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet_lt": "ImageNet-LT", "places_lt": "Places-LT",
    "inat2018": "iNaturalist 2018",
}
PIPELINES = ("memory", "stream")
CHECK_COUNTS = (2, 1)  # the class profile a recipe's loss is built with to check its settings, before the data is read
LOSS_SWITCH_TAKERS = {  # a recipe's loss switch -> what it switches on, and the losses that have it
    "drw_epoch": ("deferred re-weighting", losses.DRW_LOSSES),
    "ga_epoch": ("KPS' gradient adjustment", losses.GA_LOSSES),
}


@dataclasses.dataclass
class TrainingData:
    """The arrays of a run: the (long-tailed) training set, the test set and an optional validation split."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list
    val_images: np.ndarray | None = None
    val_labels: np.ndarray | None = None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def class_counts(self):
        return np.bincount(self.train_labels, minlength=self.num_classes)


def prepare_data(recipe, data_dir=None):
    """Loads the recipe's dataset and applies its long-tail profile with the LDAM selection.

    With `pipeline` "stream" the images stay files (`keras_lt.data.ImageFiles`), decoded later as
    crops of `recipe.image_size` (224 if unset). In memory, images are fitted to `recipe.image_size`
    (if set) and the test split to the training size. Every class needs two training images; the
    test split must have the training classes. With `recipe.val_split`, that share of every class is
    held out of the training images for validation. An image folder without test/ has
    `held_out_test` as its test split.
    """
    load = _loader(recipe, data_dir)
    images, labels, class_names, val = _training_split(recipe, load)
    if holds_out_test(recipe.dataset, data_dir):
        print(f"{data_dir} has no test/ folder: holding out {HOLDOUT:.0%} of each class for the test metrics.")
        return _hold_out_test(recipe, images, labels, class_names, val)
    test_images, test_labels, test_names = load("test", tuple(images.shape[1:3]))
    if list(test_names) != list(class_names):
        only_test = sorted(set(test_names) - set(class_names))
        only_train = sorted(set(class_names) - set(test_names))
        raise DataError(
            f"the test split's classes differ from the training split's (only in test: {', '.join(only_test) or '-'}; "
            f"only in train: {', '.join(only_train) or '-'}); give both the same class folders."
        )
    return TrainingData(images, labels, test_images, test_labels, class_names, **val)


def holds_out_test(dataset, data_dir):
    """Whether a run on `dataset` in `data_dir` holds its test split out of its training images (no test/ folder)."""
    return dataset == "folder" and not os.path.isdir(os.path.join(os.path.expanduser(data_dir or "."), "test"))


def held_out_test(recipe, data_dir, workers=None):
    """The test split of a run on an image folder without test/, drawn again as `prepare_data` drew it.

    The held-out test split is `HOLDOUT` of every class, drawn with `recipe.seed + 1` from what the
    long-tail selection and the validation split (`recipe.val_split`, `recipe.seed`) leave of
    `train/`: the same images as long as `train/` holds the same files. The draw needs only the
    labels: with the recipe's `image_size` set (every folder recipe's), only the held-out images are
    decoded. Nothing is printed.

    Args:
        recipe: the run's recipe.
        data_dir: the image folder the run trained on.
        workers: decoding processes of streamed images (None: `keras_lt.data.image_files.default_workers()`).

    Returns:
        `(test_images, test_labels, train_class_counts)`: the images as the run's test split held them
        (an array, or `ImageFiles` for a streamed recipe) and the class counts of its training split.

    Example:
    >>> images, labels, counts = held_out_test(Recipe.from_stored(config["recipe"]), "my_photos")
    """
    size = _image_size(recipe)
    if recipe.pipeline == "stream" or size is None:  # files to stream / a common size found over all images
        data = _hold_out_test(recipe, *_training_split(recipe, _loader(recipe, data_dir, workers)))
        return data.test_images, data.test_labels, data.class_counts
    paths, labels, class_names = list_image_folder(os.path.expanduser(data_dir), "train")
    data = _hold_out_test(recipe, *_training_split(recipe, lambda _split, _size: (np.arange(len(paths)), labels,
                                                                                 class_names)))
    images = np.stack(read_images([paths[i] for i in data.test_images], size))
    return images, data.test_labels, data.class_counts


def _loader(recipe, data_dir, workers=None):
    """`load(split, size)` -> `(images, labels, class_names)`: files to stream, or arrays fitted to `size`."""
    if recipe.pipeline == "stream":
        side = _stream_side(recipe)
        return lambda split, size: load_image_files(recipe.dataset, split, data_dir, side, workers)
    return lambda split, size: load_dataset(recipe.dataset, split, data_dir, image_size=size)


def _image_size(recipe):
    """The recipe's `image_size` as `(h, w)`, or None."""
    size = recipe.image_size
    return None if size is None else tuple(size) if isinstance(size, list) else (size, size)


def _training_split(recipe, load):
    """`(images, labels, class_names, val)`: the training split after the long-tail selection, less `val`'s split.

    `load(split, size)` gives `(images, labels, class_names)`; images only need indexing (an array of
    indices serves `held_out_test`).
    """
    images, labels, class_names = load("train", _image_size(recipe))
    if recipe.imbalance_factor:
        max_count = int(np.bincount(labels).max())
        counts = long_tailed_counts(len(class_names), max_count, recipe.imbalance_factor)
        keep = long_tailed_indices(labels, counts, recipe.selection_seed)
        images, labels = images[keep], labels[keep]
    counts = np.bincount(labels, minlength=len(class_names))
    if counts.min() < 2:
        raise DataError(
            f"class '{class_names[int(counts.argmin())]}' has {counts.min()} training image(s); every class needs at "
            "least 2 (add images or remove the class folder)."
        )
    if not recipe.val_split:
        return images, labels, class_names, {}
    kept, held = stratified_split(labels, recipe.val_split, recipe.seed)
    return images[kept], labels[kept], class_names, {"val_images": images[held], "val_labels": labels[held]}


def _hold_out_test(recipe, images, labels, class_names, val):
    """`TrainingData` whose test split is `HOLDOUT` of every class of the training images (seed `recipe.seed + 1`)."""
    kept, held = stratified_split(labels, HOLDOUT, recipe.seed + 1)
    return TrainingData(images[kept], labels[kept], images[held], labels[held], class_names, **val)


def _stream_side(recipe):
    """The side of a streamed recipe's square crops: `image_size` as an int or `[s, s]`, else 224."""
    size = recipe.image_size
    if size is None:
        return DEFAULT_IMAGE_SIZE
    if isinstance(size, int):
        return size
    if len(size) != 2 or size[0] != size[1]:
        raise KerasLTError(f"recipe {recipe.name}: streamed images are square crops; give image_size as one side, not {size}.")
    return int(size[0])


def pixel_statistics(images):
    """Per-channel `(mean, std)` in 0..1 that the model normalises with.

    Those of the training images for an array; ImageNet's for image files (what every ImageNet-LT,
    Places-LT and iNaturalist recipe normalises with; a pass over the files would cost an epoch).
    """
    if isinstance(images, ImageFiles):
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    pixels = images.reshape(-1, images.shape[-1])
    return (pixels.mean(0) / 255.0).tolist(), (pixels.std(0) / 255.0).tolist()


def check_recipe(recipe):
    """Raises one `KerasLTError` line if the recipe names an unknown method, ingredient, loss, architecture or sampler.

    Bad settings of an ingredient, of the loss (`check_loss`), of the step schedule (a factor for each milestone) or
    of the stage 2 (a name it does not take, or a value `keras_lt.trainers.STAGE2_CHECKS` refuses) fail here too,
    before anything is written.
    """
    trainer_ingredients(recipe)
    choices = {
        "loss": {**losses.LOSSES, **losses.ALIASES},
        "architecture": models.ARCHITECTURES,
        "sampler": SAMPLERS,
        "lr_decay": ("step", "cosine"),
        "pipeline": PIPELINES,
        "augment": STREAMING_AUGMENTATIONS if recipe.pipeline == "stream" else AUGMENTATIONS,
    }
    if not hub.is_model_name(recipe.name):  # it names the checkpoint, and its default directory
        raise KerasLTError(f"recipe name '{recipe.name}' must be letters, digits, '.', '_' and '-' (one path component).")
    for field, known in choices.items():
        value = getattr(recipe, field)
        if value not in known:
            raise KerasLTError(
                f"recipe {recipe.name}: unknown {field} '{value}'{did_you_mean(value, known)}; "
                f"choose one of {', '.join(sorted(known))}."
            )
    check_loss(recipe)
    if recipe.lr_decay == "step" and len(recipe.milestones) != len(recipe.factors):
        raise KerasLTError(
            f"recipe {recipe.name}: milestones {recipe.milestones} and factors {recipe.factors} differ in length; "
            "give one factor for each milestone."
        )
    if recipe.dataset in SPLIT_FILE_DATASETS and recipe.pipeline != "stream":
        raise KerasLTError(f"recipe {recipe.name}: {recipe.dataset} is read from its split files: set pipeline \"stream\".")
    if recipe.val_split is not None and not 0 < recipe.val_split < 1:
        raise KerasLTError(f"recipe {recipe.name}: val_split must be between 0 and 1, not {recipe.val_split}.")
    if recipe.select_on_val and (not recipe.val_split or recipe.finetune is not None):
        raise KerasLTError(
            f"recipe {recipe.name}: selecting a checkpoint on the validation split needs --val-split and a "
            "recipe without a stage 2."
        )
    if recipe.finetune is not None and recipe.finetune.get("method") not in STAGE2:
        raise KerasLTError(
            f"recipe {recipe.name}: finetune needs a \"method\", one of {', '.join(STAGE2)}."
        )
    if recipe.finetune is not None:  # checked now, not after hours of stage 1
        stage2, settings = _stage2_settings(recipe)
        method = recipe.finetune["method"]
        given = {"images": None, "labels": None, "callbacks": (), "verbose": 0, "output_dir": None}
        try:
            inspect.signature(stage2).bind(None, **given, **settings)
        except TypeError as error:
            known = [name for name in list(inspect.signature(stage2).parameters)[1:] if name not in {*given, "method"}]
            raise KerasLTError(
                f"recipe {recipe.name}: bad finetune setting ({error}); {method} takes {', '.join(known)}."
            ) from None
        if method in STAGE2_CHECKS:
            try:
                STAGE2_CHECKS[method](settings)
            except KerasLTError as error:
                raise KerasLTError(f"recipe {recipe.name}: bad finetune setting ({str(error).rstrip('.')}).") from None


def check_loss(recipe):
    """Raises one `KerasLTError` line unless the recipe's loss can train as the recipe says.

    The loss must build with its `loss_config` (on a two-class profile, `CHECK_COUNTS`: before the data
    is read), have the switches the recipe sets (`drw_epoch`: focal, kps, ldam; `ga_epoch`: kps) and
    be on the classifier it is defined on (kps, ldam: cosine).

    Example:
    >>> check_loss(Recipe(name="x", loss="focal", loss_config={"gama": 2}))
    KerasLTError: recipe x: bad loss_config for focal (Loss.__init__() got an unexpected keyword argument 'gama').
    """
    loss = losses.canonical_name(recipe.loss)
    try:
        losses.get(loss, CHECK_COUNTS, **recipe.loss_config)
    except (TypeError, ValueError, KerasLTError) as error:
        raise KerasLTError(f"recipe {recipe.name}: bad loss_config for {recipe.loss} ({error}).") from None
    for field, (switched, takers) in LOSS_SWITCH_TAKERS.items():
        if getattr(recipe, field) is not None and loss not in takers:
            raise KerasLTError(
                f"recipe {recipe.name}: {field} switches on {switched}, which the {recipe.loss} loss does not have "
                f"(the losses that have it: {', '.join(takers)}); choose one or set {field} to null."
            )
    if loss in losses.COSINE_LOSSES and recipe.classifier != "cosine":
        raise KerasLTError(
            f"recipe {recipe.name}: the {recipe.loss} loss is defined on a cosine classifier's logits, not a "
            f"{recipe.classifier} one's; set classifier \"cosine\"."
        )


def check_data(recipe, data):
    """Raises one `KerasLTError` line unless the recipe can train on `data`; reads, never writes.

    What `check_recipe` cannot see before the data is read: the loss must build on the training
    set's class counts (LDAM, KPS, Balanced Softmax, ... need images of every class), and a
    checkpoint fine-tuned whole (`init_from` without `finetune`) must take the data's image size.

    Args:
        recipe: a recipe that `check_recipe` passed.
        data: the run's `TrainingData`.

    Example:
    >>> check_data(recipe, prepare_data(recipe, "my_photos"))
    """
    try:
        losses.get(recipe.loss, data.class_counts, **recipe.loss_config)
    except (TypeError, ValueError, KerasLTError) as error:
        raise KerasLTError(
            f"recipe {recipe.name}: the {recipe.loss} loss does not build on the training set's class counts "
            f"({error}); give every class training images."
        ) from None
    if recipe.init_from is not None and recipe.finetune is None:
        expected = tuple(hub.read_config(hub.resolve(recipe.init_from))["architecture"]["input_shape"][:2])
        if tuple(data.train_images.shape[1:3]) != expected:
            raise KerasLTError(
                f"--init-from {recipe.init_from} takes {expected[0]}x{expected[1]} images; pass --image-size "
                f"{expected[0]}x{expected[1]} (or leave it out)."
            )


def build_trainer(recipe, data, steps_per_epoch):
    """The network, trainer (with the recipe's ingredients), compiled loss/optimizer and the epoch-driven callbacks.

    The recipe and the data are those that `check_recipe` and `check_data` passed. A recipe with
    `init_from` and no `finetune` fine-tunes that checkpoint's whole network, with a new head for
    the data's classes (`keras_lt.from_pretrained(..., num_classes=K)`).
    """
    keras.utils.set_random_seed(recipe.seed)
    if recipe.init_from is not None and recipe.finetune is None:
        network = hub.from_pretrained(recipe.init_from, num_classes=data.num_classes, class_names=data.class_names)
    else:
        mean, std = pixel_statistics(data.train_images)
        network = models.build(
            {
                "name": recipe.architecture,
                "num_classes": data.num_classes,
                "classifier": recipe.classifier,
                "input_shape": list(data.train_images.shape[1:]),
                "mean": mean,
                "std": std,
            }
        )
    trainer = ERMTrainer(network, **trainer_ingredients(recipe))
    if recipe.sync_batch_norm:
        distributed.convert_sync_batch_norm(trainer.network)
    loss = losses.get(recipe.loss, data.class_counts, **recipe.loss_config)
    if recipe.lr_decay == "cosine":
        schedule = WarmupCosine(recipe.lr, steps_per_epoch, recipe.warmup_epochs, recipe.epochs)
    else:
        schedule = WarmupMultiStep(
            recipe.lr, steps_per_epoch, recipe.warmup_epochs, recipe.milestones, recipe.factors
        )
    trainer.compile(
        optimizer=SGD(schedule, momentum=recipe.momentum, weight_decay=recipe.weight_decay),
        loss=loss,
        metrics=["accuracy"],
    )
    return trainer, [lt_callbacks.EpochLog(schedule), *loss_switches(recipe, loss), *trainer.epoch_callbacks()]


def is_interrupted(output_dir):
    """Whether `output_dir` holds an interrupted run that `train(..., resume=True)` can continue.

    True when a stage-1 backup, a finished stage 1 waiting for its stage 2, or a stage-2 backup is
    there (a run creates its backup directory as it starts, so a run stopped at any point is one).

    Example:
    >>> if is_interrupted("runs/ce"): train(recipe, "runs/ce", resume=True)
    """
    return any(os.path.isdir(os.path.join(output_dir, d)) for d in (BACKUP_DIR, STAGE1_DIR, FINETUNE_BACKUP_DIR))


def has_finished_epoch(output_dir):
    """Whether the interrupted run in `output_dir` kept a finished epoch that `train(..., resume=True)` continues from.

    True when a stage-1 or stage-2 backup holds an epoch (`keras_lt.callbacks.Backup.resume_epoch`)
    or stage 1 is finished. A run stopped in its first epoch has only its empty backup directory: it
    is interrupted (`is_interrupted`), and resuming it starts it again from its first epoch.

    Example:
    >>> has_finished_epoch("runs/ce")
    False
    """
    backups = (os.path.join(output_dir, d) for d in (BACKUP_DIR, FINETUNE_BACKUP_DIR))
    return os.path.isdir(os.path.join(output_dir, STAGE1_DIR)) or any(
        lt_callbacks.Backup(backup).resume_epoch() > 0 for backup in backups
    )


def check_output(output_dir, recipe, resume):
    """Raises one `KerasLTError` line if `output_dir` cannot take a run of `recipe`; reads, never writes.

    A finished run (its checkpoint written, its backups gone) is never trained into; an
    interrupted one only with `resume` and the same recipe; `resume` needs an interrupted run.

    Example:
    >>> check_output("runs/ce", recipe, resume=False)
    """
    interrupted = is_interrupted(output_dir)
    if not interrupted and os.path.isfile(os.path.join(output_dir, hub.CONFIG_FILE)):
        subject = f"nothing to resume in {output_dir}: it" if resume else output_dir
        raise KerasLTError(
            f"{subject} holds a finished run (its checkpoint); choose another --output, or pass --overwrite to "
            "train it again."
        )
    if interrupted and not resume:
        raise KerasLTError(
            f"{output_dir} holds an interrupted run; pass --resume to continue it or choose another --output."
        )
    if not resume:
        return
    if not interrupted:
        raise KerasLTError(f"nothing to resume in {output_dir}: it has no {BACKUP_DIR}/ checkpoint.")
    recipe_path = os.path.join(output_dir, RECIPE_FILE)
    try:
        with open(recipe_path) as f:  # fields added since the run started take their defaults
            saved = {**Recipe(name=recipe.name).to_dict(), **json.load(f)}
    except (OSError, ValueError, TypeError) as error:
        raise KerasLTError(
            f"cannot resume {output_dir}: its {RECIPE_FILE} is unreadable ({error}); choose another --output."
        ) from None
    if saved != recipe.to_dict():
        changed = sorted(k for k in saved if saved[k] != recipe.to_dict().get(k))
        raise KerasLTError(
            f"--resume with a different recipe than the interrupted run ({', '.join(changed)}); "
            "resume with the same options or choose another --output."
        )


def _trim_log(log_path, next_epoch):
    """Drops the log rows of epochs from `next_epoch` on, which the backup does not hold.

    A stop between an epoch's log row and its backup leaves such a row; without a backup (a stop
    before the first one was complete) the stage starts again at epoch 0, so no row is kept.
    """
    if not os.path.isfile(log_path):
        return
    with open(log_path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [row for row in rows[1:] if int(row[0]) < next_epoch]
    if len(kept) < len(rows):
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def train(recipe: Recipe, output_dir, data_dir=None, resume=False, verbose="auto", data=None):
    """Trains `recipe`, evaluates the final epoch on the test split, and saves the checkpoint.

    Nothing is written before the recipe (`check_recipe`), the output directory (`check_output`),
    the `init_from` checkpoint and the data (`check_data`) are checked. The run then holds
    `output_dir`'s `RunLock` (a second run there is refused; a killed one's lock is not left
    behind), writes `recipe.json` and creates its backup directory. A run started afresh that fails
    before it has saved an epoch (an error, not a Ctrl-C: that run `resume` starts again) removes
    what it wrote, so that the same command, its cause fixed, starts afresh.

    A per-epoch backup (`keras_lt.callbacks.Backup`: weights, optimizer, epoch; crash-safe) lives
    in `output_dir/backup` and `resume=True` continues from it exactly. A recipe with `finetune`
    then runs its stage 2 (`keras_lt.trainers.STAGE2`: cRT, LWS, tau-norm, MiSLAS, CP-Mix, AFR),
    logged to `finetune_log.csv`, with the test metrics before it in
    `metrics_before_finetune.json`. Between the stages the stage-1 network is kept in
    `output_dir/stage1`, and stage 2 has its own per-epoch backup (`finetune_backup`), so a run
    interrupted in stage 2 resumes there, exactly. The backups and `stage1` are removed only once
    the checkpoint is written: a stop at any point loses at most the epoch in progress. The
    ingredients leave what they learned beside the checkpoint (CP-Mix: its training confusions and
    their top pairs in `training_confusion.json`). A recipe with `init_from` skips the training:
    its `finetune` starts from that checkpoint.

    Under `torchrun` (`WORLD_SIZE` > 1) this process joins the process group
    (`keras_lt.distributed.initialize`) and trains its shard of every global batch; rank 0 alone
    checks and locks `output_dir` and writes there (logs, backups, stage 1, checkpoint, metrics),
    the other ranks restore the same backups and return None.

    Args:
        recipe: the recipe to run.
        output_dir: where the checkpoint, `train_log.csv`, `metrics.json` and the recipe go.
        data_dir: directory of the data (see `keras_lt.data.load_dataset`).
        resume: continue the interrupted run in `output_dir`.
        verbose: Keras' fit verbosity.
        data: a `TrainingData` to use instead of loading the recipe's dataset.

    Returns:
        The evaluation report of the final model (None on ranks other than 0).

    Example:
    >>> report = train(load_recipe("ce-resnet32-cifar10lt").scaled("short30"), "runs/ce")
    """
    distributed.initialize()
    main = distributed.is_main()
    verbose = verbose if main else 0
    check_recipe(recipe)
    if main:
        RunLock.check(output_dir)
        check_output(output_dir, recipe, resume)
    if recipe.init_from is not None:
        hub.resolve(recipe.init_from)  # a checkpoint to start from that is not there fails before the data is read
    data = data or prepare_data(recipe, data_dir)
    check_data(recipe, data)
    initial = None if recipe.init_from is None or recipe.finetune is None else _initial_network(recipe, data)
    with RunLock(output_dir) if main else contextlib.nullcontext():
        if main:
            check_output(output_dir, recipe, resume)  # again: another run may have started meanwhile
            content = json.dumps(recipe.to_dict(), indent=2).encode()
            atomic_write(os.path.join(output_dir, RECIPE_FILE), lambda f: f.write(content))
            if not is_interrupted(output_dir):  # from now on a stop leaves a run that --resume continues
                os.makedirs(os.path.join(output_dir, BACKUP_DIR if initial is None else FINETUNE_BACKUP_DIR))
        distributed.barrier()  # the other ranks read output_dir once rank 0 has checked and prepared it
        stage1 = os.path.join(output_dir, STAGE1_DIR)
        try:
            if initial is not None:
                network = initial
            elif os.path.isdir(stage1):  # a resumed run whose stage 1 is done
                network = hub.from_pretrained(stage1)
            else:
                network = _train_stage1(recipe, data, output_dir, resume, verbose)
            if recipe.finetune is not None:
                network = _finetune(network, recipe, data, output_dir, resume, verbose)
        except Exception:  # not a Ctrl-C, which leaves the run for --resume to start again
            if main and not resume and not has_finished_epoch(output_dir):
                _remove(output_dir, RUN_FILES + RUN_STATE)  # nothing to continue: the same command starts afresh
            raise
        kill_point("run.trained")
        if not main:
            return None
        report = finish(network, recipe, data, output_dir, data_dir)
        kill_point("run.checkpointed")
        _remove(output_dir, RUN_STATE)  # replaced by the checkpoint
    return report


def _remove(output_dir, names):
    """Removes the files and directories `names` of `output_dir` that are there."""
    for name in names:
        path = os.path.join(output_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


def _backup(directory):
    """Rank 0's (or the only process's) `Backup` of a stage; the other ranks restore from it without writing."""
    return lt_callbacks.Backup(directory, keep=True) if distributed.is_main() else RestoreOnlyBackup(directory)


def _log(path, append):
    """The stage's CSV log: written by rank 0 only."""
    return [keras.callbacks.CSVLogger(path, append=append)] if distributed.is_main() else []


def _train_stage1(recipe, data, output_dir, resume, verbose):
    """Fits the recipe's trainer (resuming from `output_dir/backup`); returns the trained network.

    With a finetune to follow, the network is saved to `output_dir/stage1` before the backup goes,
    and what continues is that saved checkpoint: a run resumed in stage 2 continues from the same.
    Otherwise the backup stays until `train` has written the checkpoint.
    """
    batches = training_batches(
        data.train_images, data.train_labels, data.num_classes, recipe.batch_size,
        sampler=recipe.sampler, augment=recipe.augment, seed=recipe.seed,
    )
    trainer, callbacks = build_trainer(recipe, data, len(batches))
    trainer(keras.ops.zeros((1, *data.train_images.shape[1:]), dtype="uint8"))
    trainer.optimizer.build(trainer.trainable_variables)
    backup = _backup(os.path.join(output_dir, BACKUP_DIR))
    log = os.path.join(output_dir, LOG_FILE)
    if resume and distributed.is_main():
        _trim_log(log, backup.resume_epoch())
    validation = None
    if data.val_images is not None:
        best_dir = os.path.join(output_dir, BEST_DIR) if recipe.select_on_val else None
        validation = lt_callbacks.ValidationMetrics(
            trainer.network, data.val_images, data.val_labels, best_dir, batch_size=recipe.batch_size
        )
    callbacks = [
        lt_callbacks.EpochSeeder(batches),
        distributed.MetricReduction(),
        *callbacks,
        *([validation] if validation else []),
        *_log(log, resume),
        backup,
    ]
    # shuffle=False: the batches already draw each epoch's order; Keras' shuffle of the batch order
    # would draw from Python's global `random`, which a resumed run does not replay.
    trainer.fit(batches, epochs=recipe.epochs, callbacks=callbacks, shuffle=False, verbose=verbose)
    if recipe.select_on_val:
        validation.restore_best()
    if distributed.is_main():
        for ingredient in trainer.ingredients:  # what they learned (CP-Mix: training_confusion.json)
            ingredient.write_summary(output_dir, data.class_names)
    if recipe.finetune is None:
        return trainer.network
    stage1 = os.path.join(output_dir, STAGE1_DIR)
    if distributed.is_main():
        partial = f"{stage1}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        hub.save_pretrained(
            trainer.network, partial, class_names=data.class_names, train_class_counts=data.class_counts,
            model_name=f"{recipe.name} (stage 1)",
        )
        os.replace(partial, stage1)
        kill_point("run.stage1_saved")
        backup.remove()
        kill_point("run.handed_over")
    distributed.barrier()  # every rank continues from the saved stage 1
    return hub.from_pretrained(stage1)


def _initial_network(recipe, data):
    """The checkpoint named by `recipe.init_from`, checked against the recipe's classes."""
    network = hub.from_pretrained(recipe.init_from)
    classes = network.keras_lt_config.get("class_names")
    if network.output_shape[-1] != data.num_classes or (classes and list(classes) != list(data.class_names)):
        raise KerasLTError(
            f"recipe {recipe.name}: init_from {recipe.init_from} was trained on other classes than "
            f"{recipe.dataset}; start from a checkpoint of the same dataset."
        )
    return network


def _finetune(network, recipe, data, output_dir, resume, verbose):
    """The recipe's stage 2 on `network`, its backup kept for `train` to remove; the test metrics before it go to a file."""
    main = distributed.is_main()
    if main:
        with open(os.path.join(output_dir, PRE_FINETUNE_METRICS_FILE), "w") as f:
            json.dump(evaluate(network, data, recipe.batch_size), f, indent=2)
    backup = _backup(os.path.join(output_dir, FINETUNE_BACKUP_DIR))
    log = os.path.join(output_dir, FINETUNE_LOG_FILE)
    if resume and main:
        _trim_log(log, backup.resume_epoch())
    stage2, settings = _stage2_settings(recipe)
    return stage2(
        network, images=data.train_images, labels=data.train_labels, verbose=verbose,
        output_dir=output_dir,  # every rank's: rank 0 writes there, the others read AFR's re-balanced set
        callbacks=[distributed.MetricReduction(), *_log(log, resume), backup], **settings,
    )


def _stage2_settings(recipe):
    """The recipe's stage-2 pipeline and its keyword arguments besides the data, callbacks and output."""
    settings = {"batch_size": recipe.batch_size, "seed": recipe.seed, **recipe.finetune}
    return STAGE2[settings.pop("method")], settings


def evaluate(network, data, batch_size):
    """The evaluation report of `network` on the test split of `data`, `batch_size` images per pass.

    A run evaluates at its training batch size, which the device held with gradients; streamed test
    images are decoded batch by batch (`keras_lt.inference.predict_logits`).
    """
    logits = predict_logits(network, data.test_images, batch_size)
    return evaluate_predictions(logits, data.test_labels, data.class_counts, data.class_names)


def finish(network, recipe, data, output_dir, data_dir=None):
    """Evaluates `network` on the test split and writes the checkpoint and `metrics.json`.

    A cosine classifier trained with a scaled loss (LDAM, KPS) is published with that scale on its
    output (`keras_lt.models.set_output_scale`): same ranking, meaningful probabilities.
    """
    scale = getattr(losses.get(recipe.loss, data.class_counts, **recipe.loss_config), "scale", None)
    architecture = network.keras_lt_config["architecture"]
    if architecture.get("classifier") == "cosine" and scale and "output_scale" not in architecture:
        models.set_output_scale(network, scale)
    report = evaluate(network, data, recipe.batch_size)
    with open(os.path.join(output_dir, METRICS_FILE), "w") as f:
        json.dump(report, f, indent=2)
    title = DATASET_TITLES.get(recipe.dataset, recipe.dataset)
    if recipe.dataset == "folder" and data_dir:  # the user's folder, as the user named it
        title = os.path.basename(os.path.normpath(data_dir))
    if recipe.imbalance_factor:
        title = f"{title}-LT (imbalance factor {recipe.imbalance_factor:g})"
    hub.save_pretrained(
        network,
        output_dir,
        class_names=data.class_names,
        train_class_counts=data.class_counts,
        dataset={
            "name": recipe.dataset,
            "title": title,
            "imbalance_factor": recipe.imbalance_factor,
            "selection_seed": recipe.selection_seed,
            "train_images": int(len(data.train_labels)),
            "test_images": int(len(data.test_labels)),
            "data_dir": data_dir,
        },
        recipe=recipe.to_dict(),
        metrics=report,
        model_name=recipe.name,
        run=run_info(output_dir),
    )
    return report


def run_info(output_dir):
    """The machine, library versions and total epoch time (from `train_log.csv`) of a run."""
    if torch.cuda.is_available():
        device = f"GPU {torch.cuda.get_device_name()}"
    else:
        device = f"CPU {platform.machine()}, {os.cpu_count()} cores, torch threads: {torch.get_num_threads()}"
    seconds = 0.0
    for log in (LOG_FILE, FINETUNE_LOG_FILE):
        path = os.path.join(output_dir, log)
        if os.path.isfile(path):
            with open(path) as f:
                seconds += sum(float(row.get("seconds") or 0) for row in csv.DictReader(f))
    best = lt_callbacks.ValidationMetrics.read_best(os.path.join(output_dir, BEST_DIR))
    return {
        **({"selected_epoch": best["epoch"], "val_balanced_accuracy": round(best["val_balanced_accuracy"], 2)} if best else {}),
        "device": device,
        "torch": torch.__version__,
        "keras": keras.__version__,
        "keras_lt": __version__,
        "train_seconds": round(seconds, 1),
    }
