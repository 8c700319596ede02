"""A run directory: the files and directories a run keeps there, and what they say of the run.

A run writes its recipe, what it trains on and its logs as it starts and trains, keeps its backups
(and a finished stage 1) until its checkpoint replaces them, and ends with the checkpoint and its
metrics. `is_interrupted`, `has_finished_epoch` and `is_finished` read whether a run there can be
resumed and from where, or is done; `holds_checkpoint` whether keras-lt wrote its checkpoint,
`foreign_entries` and `check_only_ours` what else is there; `check_output` whether a
run of a recipe may train there, `check_resumed_data` whether a resumed one has its data again;
`run_info` what the checkpoint records of the run (the machine, the library versions, the epoch time).
"""

import csv
import hashlib
import json
import os
import platform

import keras
import torch

from keras_lt import __version__
from keras_lt import callbacks as lt_callbacks
from keras_lt import hub
from keras_lt.callbacks import afr_regeneration
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.sources import source_of
from keras_lt.errors import KerasLTError
from keras_lt.errors import name_some
from keras_lt.recipes import RECIPE_FILE
from keras_lt.recipes import Recipe
from keras_lt.run_lock import LOCK_FILE
from keras_lt.trainers.stage2 import BACKUP_DIR as FINETUNE_BACKUP_DIR

BACKUP_DIR = "backup"
BEST_DIR = "best_val"  # the best epoch on the validation split, while a run that selects on it trains
STAGE1_DIR = "stage1"  # the finished stage 1 of a recipe with a finetune, until the run is done
LOG_FILE = "train_log.csv"
METRICS_FILE = "metrics.json"
FINETUNE_LOG_FILE = "finetune_log.csv"
PRE_FINETUNE_METRICS_FILE = "metrics_before_finetune.json"
DATA_FILE = "training_data.json"  # what the run trains on (`data_identity`), for `check_resumed_data`
RUN_STATE = (FINETUNE_BACKUP_DIR, STAGE1_DIR, BACKUP_DIR, BEST_DIR, DATA_FILE)  # kept until the checkpoint replaces it
RUN_FILES = (RECIPE_FILE, LOG_FILE, FINETUNE_LOG_FILE, PRE_FINETUNE_METRICS_FILE)  # written as a run starts and trains
# Every entry a run may leave in its directory but its checkpoint's files: the above, what is uploaded beside the
# checkpoint, a stage 1 being saved, AFR's split and re-balanced set, and the lock.
RUN_ENTRIES = frozenset((
    *RUN_STATE, *RUN_FILES, *hub.RUN_FILES, f"{STAGE1_DIR}.partial", afr_regeneration.SPLIT_FILE,
    afr_regeneration.STATE_FILE, afr_regeneration.REBALANCED_IMAGES_FILE, LOCK_FILE,
))


def is_interrupted(output_dir):
    """Whether `output_dir` holds an interrupted run that `keras_lt.training.train(..., resume=True)` can continue.

    True when a stage-1 backup, a finished stage 1 waiting for its stage 2, or a stage-2 backup is
    there (a run creates its backup directory as it starts, so a run stopped at any point is one).

    Example:
    >>> if is_interrupted("runs/ce"): train(recipe, "runs/ce", resume=True)
    """
    return any(os.path.isdir(os.path.join(output_dir, d)) for d in (BACKUP_DIR, STAGE1_DIR, FINETUNE_BACKUP_DIR))


def has_finished_epoch(output_dir):
    """Whether the interrupted run in `output_dir` kept a finished epoch that a resumed run continues from.

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


def is_finished(output_dir):
    """Whether `output_dir` holds a finished run: a keras-lt checkpoint, and no interrupted run.

    Example:
    >>> is_finished("runs/ce")
    True
    """
    return not is_interrupted(output_dir) and holds_checkpoint(output_dir)


def holds_checkpoint(output_dir):
    """Whether `output_dir` has a `config.json` that keras-lt wrote (its `"library"`), not another library's or a user's.

    What a run protects and recognises as its own. Loading asks less of a directory
    (`keras_lt.hub.resolve`: the checkpoint's files, then every field checked, so that a damaged
    `config.json` is named as one).

    Example:
    >>> holds_checkpoint("runs/ce"), holds_checkpoint("my_photos")
    (True, False)
    """
    try:
        with open(os.path.join(output_dir, hub.CONFIG_FILE)) as f:
            return json.load(f).get("library") == "keras-lt"
    except (OSError, ValueError, AttributeError):
        return False


def foreign_entries(output_dir, own=RUN_ENTRIES):
    """The names in `output_dir` that keras-lt does not write there, sorted; none if it is not a directory.

    Its own are `own` (by default every entry a training run may leave), and a checkpoint's files
    beside a keras-lt `config.json` (a user's README.md, or another library's model, are not).

    Example:
    >>> foreign_entries("my_photos")
    ['test', 'train']
    """
    if not os.path.isdir(output_dir):
        return []
    own = set(own) | (set(hub.CHECKPOINT_FILES) if holds_checkpoint(output_dir) else set())
    return sorted(set(os.listdir(output_dir)) - own)


def check_only_ours(output_dir, own=RUN_ENTRIES, kind="run"):
    """Raises one `KerasLTError` line if `output_dir` holds entries that keras-lt does not write (`foreign_entries`).

    A run or a decoupling never mixes its files with others, such as a data folder's, nor replaces
    (`--overwrite`) a finished one that has other files beside it.

    Args:
        output_dir: where the run would write.
        own: the entries its kind of run writes there, its checkpoint's aside.
        kind: what writes there, as the message names it ("run", "decoupling").

    Example:
    >>> check_only_ours("my_photos")
    KerasLTError: my_photos is not empty: it holds files no keras-lt run writes (test, train); choose a new or
    empty --output.
    """
    foreign = foreign_entries(output_dir, own)
    if foreign and holds_checkpoint(output_dir):
        raise KerasLTError(
            f"--overwrite replaces a finished {kind}, and {output_dir} also holds other files ({name_some(foreign)}); "
            "move them out or choose another --output."
        )
    if foreign:
        raise KerasLTError(
            f"{output_dir} is not empty: it holds files no keras-lt {kind} writes ({name_some(foreign)}); choose a new "
            "or empty --output."
        )


def check_output(output_dir, recipe, resume):
    """Raises one `KerasLTError` line if `output_dir` cannot take a run of `recipe`; reads, never writes.

    A finished run (its checkpoint written, its backups gone) is never trained into; an
    interrupted one only with `resume` and the same recipe; `resume` needs an interrupted run. A
    new run needs a new or empty directory, or one that holds only a run's own files
    (`check_only_ours`).

    Example:
    >>> check_output("runs/ce", recipe, resume=False)
    """
    interrupted = is_interrupted(output_dir)
    if not interrupted and holds_checkpoint(output_dir):
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
        check_only_ours(output_dir)
        return
    if not interrupted:
        raise KerasLTError(f"nothing to resume in {output_dir}: it has no {BACKUP_DIR}/ checkpoint.")
    # fields added since the run started take their defaults
    saved = {**Recipe(name=recipe.name).to_dict(), **_read_record(output_dir, RECIPE_FILE)}
    if saved != recipe.to_dict():
        changed = sorted(k for k in saved if saved[k] != recipe.to_dict().get(k))
        raise KerasLTError(
            f"--resume with a different recipe than the interrupted run ({', '.join(changed)}); "
            "resume with the same options or choose another --output."
        )


def _read_record(output_dir, name):
    """The JSON dict `name` of the interrupted run in `output_dir`; one `KerasLTError` line if it is unreadable."""
    try:
        with open(os.path.join(output_dir, name)) as f:
            return dict(json.load(f))
    except (OSError, ValueError, TypeError) as error:
        raise KerasLTError(
            f"cannot resume {output_dir}: its {name} is unreadable ({error}); choose another --output."
        ) from None


def data_identity(data, dataset, data_dir=None):
    """What a run trains on, as `DATA_FILE` records it: the class names, training images per class and files.

    `train_files` is a digest of the training image files' names (relative to their common folder)
    and sizes, for streamed files or the image folder `train/` they were read from: not of where they
    are, so a run moved to another machine with its data resumes there; not of the decoded pixels,
    which another image library may decode a little differently. Arrays of another source (a CIFAR
    archive, tfds, `data` given) have no digest.

    Args:
        data: the run's `keras_lt.training_data.TrainingData`.
        dataset: the recipe's dataset ("folder", "cifar10", ...).
        data_dir: the directory it was read from, if any.

    Example:
    >>> data_identity(prepare_data(recipe, "my_photos"), "folder", "my_photos")["train_class_counts"]
    [120, 30, 4]
    """
    identity = {
        "class_names": [str(name) for name in data.class_names],
        "train_class_counts": [int(count) for count in data.class_counts],
    }
    if isinstance(data.train_images, ImageFiles):
        paths = list(data.train_images.paths)
    elif source_of(dataset, "train", data_dir) == "folder":
        paths, _, _ = list_image_folder(os.path.expanduser(data_dir), "train")
    else:
        return identity
    root = os.path.commonpath(paths)
    digest = hashlib.sha1()
    for path in paths:
        digest.update(os.fsencode(f"{os.path.relpath(path, root)}\0{os.path.getsize(path)}\n"))  # any file name
    return {**identity, "train_files": digest.hexdigest()}


def check_resumed_data(output_dir, identity):
    """Raises one `KerasLTError` line if the interrupted run in `output_dir` trained on other data than `identity`.

    `identity` is the resumed run's `data_identity`. A run started before keras-lt recorded its data
    (no `DATA_FILE`) is not checked; the resumed run records it.

    Example:
    >>> check_resumed_data("runs/ce", data_identity(data, "folder", "my_photos"))
    """
    if not os.path.isfile(os.path.join(output_dir, DATA_FILE)):
        return
    saved = _read_record(output_dir, DATA_FILE)
    names, counts = identity["class_names"], identity["train_class_counts"]
    run_names, run_counts = saved.get("class_names"), saved.get("train_class_counts")
    if not isinstance(run_names, list) or not isinstance(run_counts, list):
        raise KerasLTError(
            f"cannot resume {output_dir}: its {DATA_FILE} lacks the class names or counts; choose another --output."
        )
    other_name, other_count = _first_difference(run_names, names), _first_difference(run_counts, counts)
    if len(run_names) != len(names):
        difference = f"the run's data has {len(run_names)} classes, this data {len(names)}"
    elif other_name is not None:
        difference = f"the run's class {other_name} is '{run_names[other_name]}', this data's '{names[other_name]}'"
    elif other_count is not None:
        difference = (
            f"the run's data has {run_counts[other_count]} training images of class '{names[other_count]}', this "
            f"data {counts[other_count]}"
        )
    elif "train_files" in saved and "train_files" in identity and saved["train_files"] != identity["train_files"]:
        difference = "the names or sizes of the training image files differ"
    else:
        return
    raise KerasLTError(
        f"--resume with other training data than the interrupted run in {output_dir} ({difference}); resume with "
        "the data it started on, or choose another --output."
    )


def _first_difference(first, second):
    """The first index at which the lists `first` and `second` differ, or None."""
    return next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), None)


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
