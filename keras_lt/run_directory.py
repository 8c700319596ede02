"""A run directory: the files and directories a run keeps there, and what they say of the run.

A run writes its recipe and logs as it starts and trains, keeps its backups (and a finished stage 1)
until its checkpoint replaces them, and ends with the checkpoint and its metrics. `is_interrupted`
and `has_finished_epoch` read whether a run there can be resumed and from where, `check_output`
whether a run of a recipe may train there, and `run_info` what the checkpoint records of the run
(the machine, the library versions, the epoch time).
"""

import csv
import json
import os
import platform

import keras
import torch

from keras_lt import __version__
from keras_lt import callbacks as lt_callbacks
from keras_lt import hub
from keras_lt.errors import KerasLTError
from keras_lt.recipes import RECIPE_FILE
from keras_lt.recipes import Recipe
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
