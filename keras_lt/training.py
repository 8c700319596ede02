"""Runs a recipe end to end: data -> device batches -> trainer -> checkpoint + evaluation.

The run's data comes from `keras_lt.training_data`, its recipe is checked by `keras_lt.recipe_checks`
and its output directory is laid out and read by `keras_lt.run_directory`.
"""

import contextlib
import csv
import json
import os
import shutil

import keras

from keras_lt import callbacks as lt_callbacks
from keras_lt import distributed
from keras_lt import hub
from keras_lt import losses
from keras_lt import models
from keras_lt.data.batch_choice import training_batches
from keras_lt.distributed.restore_only_backup import RestoreOnlyBackup
from keras_lt.errors import KerasLTError
from keras_lt.evaluation import evaluate_predictions
from keras_lt.files import atomic_write
from keras_lt.inference import predict_logits
from keras_lt.kill_points import kill_point
from keras_lt.recipe_checks import check_data
from keras_lt.recipe_checks import check_recipe
from keras_lt.recipe_checks import rebalancing_note
from keras_lt.recipes import RECIPE_FILE
from keras_lt.recipes import Recipe
from keras_lt.run_directory import BACKUP_DIR
from keras_lt.run_directory import BEST_DIR
from keras_lt.run_directory import DATA_FILE
from keras_lt.run_directory import FINETUNE_LOG_FILE
from keras_lt.run_directory import LOG_FILE
from keras_lt.run_directory import METRICS_FILE
from keras_lt.run_directory import PRE_FINETUNE_METRICS_FILE
from keras_lt.run_directory import RUN_FILES
from keras_lt.run_directory import RUN_STATE
from keras_lt.run_directory import STAGE1_DIR
from keras_lt.run_directory import check_output
from keras_lt.run_directory import check_resumed_data
from keras_lt.run_directory import data_identity
from keras_lt.run_directory import has_finished_epoch
from keras_lt.run_directory import is_interrupted
from keras_lt.run_directory import run_info
from keras_lt.run_lock import RunLock
from keras_lt.trainers import SGD
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import WarmupCosine
from keras_lt.trainers import WarmupMultiStep
from keras_lt.trainers import loss_switches
from keras_lt.trainers import stage2_settings
from keras_lt.trainers import trainer_ingredients
from keras_lt.trainers.stage2 import BACKUP_DIR as FINETUNE_BACKUP_DIR
from keras_lt.training_data import holds_out_test
from keras_lt.training_data import pixel_statistics
from keras_lt.training_data import prepare_data

DATASET_TITLES = {
    "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet_lt": "ImageNet-LT", "places_lt": "Places-LT",
    "inat2018": "iNaturalist 2018",
}


def build_trainer(recipe, data, steps_per_epoch):
    """The network, trainer (with the recipe's ingredients), compiled loss/optimizer and the epoch-driven callbacks.

    The recipe and the data are those that `check_recipe` and `check_data` passed. A recipe with
    `init_from` and no `finetune` fine-tunes that checkpoint's whole network, with a new head for
    the data's classes (`keras_lt.from_pretrained(..., num_classes=K)`); a cosine one published
    with its loss's scale trains on bare cosines under a loss that applies its own (LDAM, KPS).
    """
    keras.utils.set_random_seed(recipe.seed)
    if recipe.init_from is not None and recipe.finetune is None:
        network = hub.from_pretrained(recipe.init_from, num_classes=data.num_classes, class_names=data.class_names)
        if "output_scale" in network.keras_lt_config["architecture"] and loss_scale(recipe, data.class_counts):
            models.set_output_scale(network, None)  # the loss scales the bare cosines; `finish` puts its scale back
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

    Nothing is written before the recipe (`check_recipe`), the output directory (`check_output`: a
    new run needs a new or empty one, or `--overwrite`'s emptied one; `RunLock.check`: it can be
    written), the `init_from` checkpoint and the data (`check_data`; a resumed run's must be what
    the run started on, `check_resumed_data`) are checked. The run then holds `output_dir`'s
    `RunLock` (a second run there is refused; a killed one's lock is not left behind), writes
    `recipe.json` and `training_data.json` and creates its backup directory. A run started afresh
    that fails before it has saved an epoch (an error, not a Ctrl-C: that run `resume` starts
    again) removes what it wrote, so that the same command, its cause fixed, starts afresh; a
    resumed run from before keras-lt recorded its data is not checked, and its record written now
    is removed again if it fails (its backup of another model: perhaps other data). A fit whose
    training loss, or weights at an epoch's end, become NaN or infinite stops there with one line
    (`keras_lt.callbacks.StopOnDivergence`), before that epoch's backup: an interrupted run keeps
    its last good epoch.

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
        note = rebalancing_note(recipe)
        if note:
            print(f"note: {note}.")
    if recipe.init_from is not None:
        hub.resolve(recipe.init_from)  # a checkpoint to start from that is not there fails before the data is read
    data = data or prepare_data(recipe, data_dir)
    check_data(recipe, data)
    identity = data_identity(data, recipe.dataset, data_dir) if main else None
    initial = None if recipe.init_from is None or recipe.finetune is None else _initial_network(recipe, data)
    unrecorded = False  # resuming a run from before keras-lt recorded its data: recorded if the resume goes on
    with RunLock(output_dir) if main else contextlib.nullcontext():
        if main:
            check_output(output_dir, recipe, resume)  # again: another run may have started meanwhile
            if resume:
                check_resumed_data(output_dir, identity)
                unrecorded = not os.path.isfile(os.path.join(output_dir, DATA_FILE))
            for name, record in ((RECIPE_FILE, recipe.to_dict()), (DATA_FILE, identity)):
                content = json.dumps(record, indent=2).encode()
                atomic_write(os.path.join(output_dir, name), lambda f: f.write(content))
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
        except Exception as error:  # not a Ctrl-C, which leaves the run for --resume to start again
            kept = resume or not main or has_finished_epoch(output_dir)
            if not kept:
                _remove(output_dir, RUN_FILES + RUN_STATE)  # nothing to continue: the same command starts afresh
            elif unrecorded:  # perhaps not its data (a backup of another model): not recorded as the run's
                _remove(output_dir, (DATA_FILE,))
            if isinstance(error, lt_callbacks.TrainingDiverged):
                advice = f"; {output_dir} keeps the run up to its last good epoch: train into another --output"
                good = has_finished_epoch(output_dir)  # a resumed run may have none yet
                raise lt_callbacks.TrainingDiverged(
                    f"{error}{advice if good else ', and run again'}.", reason=str(error)
                ) from None
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
    """Rank 0's (or the only process's) `Backup` of a stage; the other ranks restore from it without writing.

    Every rank must find the epoch rank 0 resumes from (`_check_shared`).
    """
    backup = lt_callbacks.Backup(directory, keep=True) if distributed.is_main() else RestoreOnlyBackup(directory)
    _check_shared(directory, lambda: backup.resume_epoch(), _backup_words)
    return backup


def _backup_words(epoch):
    """A backup's resume epoch in words."""
    return f"a backup of epoch {epoch}" if epoch else "no backup"


def _check_shared(path, read, describe):
    """In a multi-process run, one `KerasLTError` line on a rank that reads another state of `path` than rank 0.

    Rank 0 alone writes the run directory, and the other ranks read its backups and finished stage 1
    there: a run on several machines needs it on a filesystem they all mount, else a rank would
    resume from another epoch than rank 0 (or start again) and the ranks would train apart.

    Args:
        path: what the ranks read.
        read: `read()` is what a rank finds there (compared with rank 0's).
        describe: `describe(state)` is a state in words, for the message.
    """
    if not distributed.is_distributed():
        return
    state = read()
    expected = distributed.broadcast_object(state)
    if state != expected:
        raise KerasLTError(
            f"rank {distributed.rank()} finds {describe(state)} in {path}, rank 0 {describe(expected)}: every "
            "machine must see the run directory rank 0 writes; put --output on a filesystem they all mount."
        )


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
        lt_callbacks.StopOnDivergence(),
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
    publish_scale(trainer.network, recipe, data.class_counts)  # stage 2 trains on the model stage 1 publishes
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
    _check_shared(stage1, lambda: os.path.isdir(stage1), lambda seen: "its stage 1" if seen else "no stage 1")
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
    stage2, settings = stage2_settings(recipe)
    divergence = lt_callbacks.StopOnDivergence("the fine-tune", "the recipe's finetune lr")
    return stage2(
        network, images=data.train_images, labels=data.train_labels, verbose=verbose,
        output_dir=output_dir,  # every rank's: rank 0 writes there, the others read AFR's re-balanced set
        callbacks=[distributed.MetricReduction(), divergence, *_log(log, resume), backup], **settings,
    )


def evaluate(network, data, batch_size):
    """The evaluation report of `network` on the test split of `data`, `batch_size` images per pass.

    A run evaluates at its training batch size, which the device held with gradients; streamed test
    images are decoded batch by batch (`keras_lt.inference.predict_logits`).
    """
    logits = predict_logits(network, data.test_images, batch_size)
    return evaluate_predictions(logits, data.test_labels, data.class_counts, data.class_names)


def loss_scale(recipe, class_counts):
    """The scale the recipe's loss puts on a cosine classifier's cosines (LDAM, KPS), or None."""
    return getattr(losses.get(recipe.loss, class_counts, **recipe.loss_config), "scale", None)


def publish_scale(network, recipe, class_counts):
    """Puts the scale of the loss that trained a cosine classifier on its output, once (`set_output_scale`).

    The model of a finished stage then is the one published: a stage 2 trains on it alike whether
    it follows stage 1 in the same run, starts from a checkpoint (`init_from`) or decouples one.
    """
    scale = loss_scale(recipe, class_counts)
    architecture = network.keras_lt_config["architecture"]
    if architecture.get("classifier") == "cosine" and scale and "output_scale" not in architecture:
        models.set_output_scale(network, scale)


def finish(network, recipe, data, output_dir, data_dir=None):
    """Evaluates `network` on the test split and writes the checkpoint and `metrics.json`.

    A cosine classifier trained with a scaled loss (LDAM, KPS) is published with that scale on its
    output (`publish_scale`): same ranking, meaningful probabilities.
    """
    publish_scale(network, recipe, data.class_counts)
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
            "test_held_out": bool(data_dir) and holds_out_test(recipe.dataset, data_dir),  # else its own test split
        },
        recipe=recipe.to_dict(),
        metrics=report,
        model_name=recipe.name,
        run=run_info(output_dir),
    )
    return report
