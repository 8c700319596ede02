"""`keras-lt train`: a recipe (or just an image folder) in, a checkpoint and its metrics out."""

import contextlib
import dataclasses
import json
import os
import sys

import click

from keras_lt import hub
from keras_lt.cli.errors import CommandError
from keras_lt.cli.errors import one_line_errors
from keras_lt.cli.options import RecipeNumber
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.distributed import launch
from keras_lt.errors import KerasLTError
from keras_lt.evaluation import format_table
from keras_lt.losses import canonical_name
from keras_lt.own_data import FOLDER_SCHEDULE
from keras_lt.own_data import default_classifier
from keras_lt.own_data import fit_recipe_to_folder
from keras_lt.own_data import recipe_for_folder
from keras_lt.own_data import with_cpmix_switch
from keras_lt.recipe_checks import check_recipe
from keras_lt.recipes import RANGES
from keras_lt.recipes import load_recipe
from keras_lt.replacing import replacing
from keras_lt.run_directory import check_only_ours
from keras_lt.run_directory import has_finished_epoch
from keras_lt.run_directory import is_finished
from keras_lt.run_directory import is_interrupted
from keras_lt.training import train as run


def parse_image_size(value):
    """`"32"` or `"48x40"` as `[h, w]`, each side in a recipe's range (`RANGES["image_size"]`); None stays None."""
    if value is None:
        return None
    try:
        sides = [int(side) for side in value.lower().split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2):
        raise KerasLTError(f"--image-size must be SIDE or HEIGHTxWIDTH (e.g. 32 or 48x40), not '{value}'.")
    for side in sides:
        if side not in RANGES["image_size"]:
            raise KerasLTError(
                f"each side of --image-size must be {RANGES['image_size']} (from the smallest side a ResNet-32 "
                f"trains a batch of one image at, to the largest a checkpoint takes), not {side}."
            )
    return sides * (3 - len(sides))


def checkpoint_fields(init_from):
    """What a run from the checkpoint `init_from` takes from it: `(fields, image_size)`; `({}, None)` without one.

    The run trains that checkpoint's network (fine-tuned with a new head of the same kind, or as a
    stage 2's base), so its recipe fields, which `keras-lt info` and the card show, name it and its
    architecture and classifier, not the recipe's or the folder's defaults; `image_size` is its input
    size `[h, w]`.
    """
    if init_from is None:
        return {}, None
    architecture = hub.read_config(hub.resolve(init_from))["architecture"]
    fields = {
        "init_from": init_from,
        "architecture": architecture["name"],
        "classifier": architecture.get("classifier", "linear"),
    }
    return fields, architecture["input_shape"][:2]


def build_recipe(recipe_name, schedule, data_dir, options, init_from, imbalance_factor, echo=True):
    """The run's recipe: the zoo recipe fitted to the data, or one made from the image folder.

    `schedule` names the schedule (`keras_lt.recipes.Recipe.scaled`); None: a zoo recipe's full one, or
    `keras_lt.own_data.FOLDER_SCHEDULE` for a recipe made from the folder. With `init_from` it names
    that checkpoint's architecture and classifier (`checkpoint_fields`); a
    recipe made from the folder also takes its input size unless `options` give one. What the user's
    options leave open is chosen, and said: a `--loss` other than the recipe's takes its own defaults,
    not the recipe loss's `loss_config` (`without_other_loss_config`), and trains the classifier it is
    defined on (`with_loss_classifier`: cosine for LDAM and KPS, else linear); a `--method cpmix` starts CP-Mix where the
    zoo's CP-Mix recipe does (`keras_lt.own_data.with_cpmix_switch`).
    """
    say = click.echo if echo else lambda line: None
    epochs = options.pop("epochs", None)
    if recipe_name is None:
        if data_dir is None:
            raise KerasLTError("give --data-dir (an image folder train/<class>/<images>) or --recipe.")
        pretrained, image_size = checkpoint_fields(init_from)
        fields = with_loss_classifier({"image_size": image_size, **pretrained, **options}, say)
        recipe = recipe_for_folder(
            data_dir, **fields, imbalance_factor=imbalance_factor, schedule=schedule or FOLDER_SCHEDULE
        )
    else:
        recipe = load_recipe(recipe_name).scaled(schedule or "full")
        recipe, note = fit_recipe_to_folder(recipe, data_dir, imbalance_factor)
        if note:
            say(note)
        pretrained, _ = checkpoint_fields(init_from)  # the recipe's data keeps the recipe's image size
        fields = with_loss_classifier(
            without_other_loss_config(recipe, {**pretrained, **options}, say), say, current=recipe.classifier,
            current_loss=recipe.loss,
        )
        recipe = dataclasses.replace(recipe, **fields)
    if epochs is not None and epochs != recipe.epochs:
        recipe, changes = recipe.with_epochs(epochs)
        say(f"--epochs {epochs} scales the recipe: {'; '.join(changes)}")
    if "method" in options:
        recipe, note = with_cpmix_switch(recipe)
        if note:
            say(f"--method cpmix: {note}")
    return recipe


def without_other_loss_config(recipe, fields, say):
    """`fields` with an empty `loss_config` when their `--loss` replaces the recipe's loss; `say` tells it.

    A recipe's `loss_config` holds its own loss's settings (LDAM's margin and scale would pass to
    KPS, and fail CE): another loss takes its defaults.
    """
    loss = fields.get("loss")
    if loss is None or canonical_name(loss) == canonical_name(recipe.loss) or not recipe.loss_config:
        return fields
    say(f"--loss {loss} replaces the recipe's {recipe.loss}: {loss} takes its defaults, not loss_config "
        f"{json.dumps(recipe.loss_config)}.")
    return {**fields, "loss_config": {}}


def with_loss_classifier(fields, say, current="linear", current_loss="ce"):
    """`fields` with the classifier their `--loss` is defined on, when they name none; `say` tells a change.

    LDAM and KPS are defined on a cosine classifier's logits, the other losses on a linear one's
    (`keras_lt.own_data.default_classifier`; a cross-entropy on bare cosines in [-1, 1] barely
    trains): a `--loss` trains the classifier of its kind, unless a checkpoint (`--init-from`: `fields`
    name its "init_from" and "classifier") gives one; a loss defined on a cosine classifier (`--loss`,
    else the recipe's `current_loss`) then fails in one `KerasLTError` line on a linear checkpoint's.
    `current` is the classifier the recipe had.
    """
    loss = fields.get("loss", current_loss)
    if "classifier" in fields:
        if default_classifier(loss) == "cosine" != fields["classifier"]:
            raise KerasLTError(
                f"--init-from {fields['init_from']} has a {fields['classifier']} classifier and the {loss} loss is "
                "defined on a cosine classifier's logits; train it with another --loss (e.g. ce or bs), or "
                "train without --init-from."
            )
        return fields
    if "loss" not in fields:
        return fields
    classifier = default_classifier(loss)
    if classifier != current:
        say(f"--loss {loss} is defined on a {classifier} classifier's logits: training a {classifier} classifier.")
    return {**fields, "classifier": classifier}


@click.command()
@click.option("--recipe", "recipe_name", help="Zoo recipe name or a recipe JSON file [default: one made from --data-dir].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data: image folder (train/<class>/*, optional test/<class>/*), CIFAR archive dir or tfds dir.")
@click.option("--schedule", help="'full' or 'short30' (CPU evidence schedule) [default: a --recipe's full schedule, short30 for one made from --data-dir].")
@click.option("--output", type=click.Path(file_okay=False), help="Run directory [default: the local checkpoint of the recipe's name].")
@click.option("--method", help="Training method, a preset of ingredients (erm, mixup, cmo, cpmix, lcreg) [default: the recipe's, or erm].")
@click.option("--loss", help="Loss (ce, bs, ldam, kps, ...) [default: the recipe's, or ce].")
@click.option("--epochs", type=RecipeNumber("epochs"), help="Epochs; a recipe's epoch switches (warmup, milestones, DRW, GA, ...) scale with it.")
@click.option("--batch-size", type=RecipeNumber("batch_size"), help="Images per batch.")
@click.option("--lr", type=RecipeNumber("lr"), help="Peak learning rate.")
@click.option("--image-size", help=f"SIDE or HEIGHTxWIDTH (sides of {RANGES['image_size'].low}..{RANGES['image_size'].high}) the images are fitted to (shorter side, then centre crop) [default: the data's most common size].")
@click.option("--val-split", type=RecipeNumber("val_split"), help="Hold out this share of every training class for per-epoch validation metrics.")
@click.option("--select-on-val", is_flag=True, help="Keep the epoch with the best balanced validation accuracy (needs --val-split), not the last.")
@click.option("--imbalance-factor", type=RecipeNumber("imbalance_factor"), help="Apply a long-tail profile of this factor (at least 1) to the training split (0: none).")
@click.option("--seed", type=RecipeNumber("seed"), help="Seed of the initialisation, order and augmentation.")
@click.option("--license", "license_id", help="License of the trained weights, for the model card (e.g. mit).")
@click.option("--init-from", help="Start from this checkpoint (name, directory or hf://): a stage-2 recipe's base, else fine-tune the whole network with a new head.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --output.")
@click.option("--overwrite", is_flag=True, help="Replace a finished run in --output (which holds nothing else).")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes (one per GPU): runs this command under torchrun.")
@click.option("--workers", type=click.IntRange(min=0), help=f"Image-decoding processes per rank (streamed data) [default: ${WORKERS_ENV} or the cores, at most 8].")
@click.option("--sync-bn", is_flag=True, help="Multi-process runs: BatchNorm statistics over the global batch.")
@click.pass_context
@one_line_errors
def train(ctx, recipe_name, data_dir, schedule, output, method, loss, epochs, batch_size, lr, image_size, val_split,
          select_on_val, imbalance_factor, seed, license_id, init_from, resume, overwrite, devices, workers, sync_bn):
    """Train a model from a recipe, or from an image folder alone; writes a checkpoint and metrics.

    \b
    keras-lt train --data-dir my_photos --epochs 30
    keras-lt train --recipe ldam-drw-resnet32-cifar10lt --data-dir my_photos --epochs 30
    keras-lt train --init-from ce-resnet32-cifar10lt --data-dir my_photos
    keras-lt train --recipe my-recipe.json --data-dir my_photos

    \b
    Combine methods in a recipe JSON (README, "Combining methods"): at most one
    "mixer" (mixup, cmo), any "regularizers" (cpmix, latent_reconstruction,
    latent_isda), each {"name": ..., settings}, with any "loss", "classifier",
    "sampler" and "finetune" ({"method": ..., settings}: crt, lws, tau-norm,
    mislas, afr, cpmix), e.g.
      {"name": "cpmix-kps", "loss": "kps", "classifier": "cosine",
       "regularizers": [{"name": "cpmix", "start_epoch": 200}]}

    \b
    Several devices: `--devices N`, or `torchrun --nproc_per_node N -m keras_lt.cli.main train ...`.
    """
    if resume and overwrite:
        raise KerasLTError(
            "--resume continues an interrupted run and --overwrite replaces a finished one; pass one of them."
        )
    launching = devices > 1 and "WORLD_SIZE" not in os.environ  # this process starts the ranks
    if workers is not None:
        os.environ[WORKERS_ENV] = str(workers)
    given = {
        "method": method, "loss": loss, "epochs": epochs, "batch_size": batch_size, "lr": lr,
        "image_size": parse_image_size(image_size), "seed": seed, "license": license_id, "val_split": val_split,
        "select_on_val": select_on_val or None, "sync_batch_norm": sync_bn or None,
    }
    options = {k: v for k, v in given.items() if v is not None}
    main = os.environ.get("RANK", "0") == "0" and not launching
    recipe = build_recipe(recipe_name, schedule, data_dir, options, init_from, imbalance_factor, echo=main)
    if launching:  # a bad recipe is one line here, not one per rank
        check_recipe(recipe)
        status, errors = launch(devices, _arguments(ctx))
        for line in errors:
            click.echo(f"Error: {line}", err=True)
        ctx.exit(status)
    output = output or os.path.join(hub.local_checkpoints_dir(), recipe.name)
    replace = main and overwrite and is_finished(output)
    if replace:
        check_only_ours(output)
        click.echo(f"--overwrite: replacing the finished run in {output} (kept if the new run stops before writing)")
    if main:
        click.echo(f"training {recipe.name} ({recipe.schedule}, {recipe.epochs} epochs) -> {output}")
    try:
        with replacing(output) if replace else contextlib.nullcontext():
            report = run(recipe, output, data_dir=data_dir, resume=resume, verbose=1 if sys.stdout.isatty() else 2)
    except KeyboardInterrupt:
        raise CommandError(interrupted_message(output, replacing=replace)) from None
    if report is not None:
        click.echo(format_table(report))
        click.echo(f"checkpoint: {output}")


def interrupted_message(output, replacing=False):
    """What a run stopped by Ctrl-C left in `output`, and how to go on: one line.

    `replacing`: the run was to replace a finished run there (`--overwrite`), which `replacing` puts
    back unless the new run finished an epoch.
    """
    if replacing and not is_interrupted(output):
        return (
            f"interrupted before the new run finished an epoch; {output} keeps the finished run it held: run the "
            "same command to replace it again."
        )
    if has_finished_epoch(output):
        return f"interrupted; {output} keeps the last finished epoch: run the same command with --resume to continue it."
    if is_interrupted(output):  # its backup directory, empty: --resume starts the run again
        return (
            f"interrupted before the first epoch finished; {output} has no epoch to continue from: run the same "
            "command with --resume to start the run again."
        )
    return f"interrupted before the first epoch was saved; nothing to resume in {output}: run the same command again."


def _arguments(ctx):
    """This `train` command's arguments for each torchrun rank: the same, without `--devices`."""
    arguments = ["train"]
    for param in ctx.command.params:
        value = ctx.params[param.name]
        if param.name == "devices" or value is None or value is False:
            continue
        arguments += [param.opts[0]] if param.is_flag else [param.opts[0], str(value)]
    return arguments
