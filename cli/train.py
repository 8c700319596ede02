"""`keras-lt train`: a recipe in, a checkpoint and its metrics out."""

import dataclasses
import os
import sys

import click

from keras_lt import hub
from keras_lt.cli.errors import one_line_errors
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.distributed import launch
from keras_lt.evaluation import format_table
from keras_lt.recipes import load_recipe
from keras_lt.training import is_interrupted
from keras_lt.training import train as run


@click.command()
@click.option("--recipe", "recipe_name", required=True, help="Zoo recipe name or a recipe JSON file.")
@click.option("--schedule", default="full", show_default=True, help="'full' or 'short30' (CPU evidence schedule).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data: image folder, CIFAR archive dir or tfds dir.")
@click.option("--output", type=click.Path(file_okay=False), help="Run directory [default: the local checkpoint of the recipe's name].")
@click.option("--epochs", type=int, help="Override the recipe's epochs.")
@click.option("--loss", help="Override the recipe's loss (ce, bs, ldam, kps, ...).")
@click.option("--seed", type=int, help="Override the recipe's seed.")
@click.option("--init-from", help="Override the checkpoint a stage-2 recipe starts from (name or directory).")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --output.")
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes (one per GPU): runs this command under torchrun.")
@click.option("--workers", type=click.IntRange(min=0), help=f"Image-decoding processes per rank (streamed data) [default: ${WORKERS_ENV} or the cores, at most 8].")
@click.option("--sync-bn", is_flag=True, help="Multi-process runs: BatchNorm statistics over the global batch.")
@click.pass_context
@one_line_errors
def train(ctx, recipe_name, schedule, data_dir, output, epochs, loss, seed, init_from, resume, devices, workers, sync_bn):
    """Train a model from a recipe; prints progress, writes a checkpoint and metrics.

    Several devices: `--devices N`, or `torchrun --nproc_per_node N -m keras_lt.cli.main train ...`.
    """
    if devices > 1 and "WORLD_SIZE" not in os.environ:
        ctx.exit(launch(devices, _arguments(ctx)))
    if workers is not None:
        os.environ[WORKERS_ENV] = str(workers)
    recipe = load_recipe(recipe_name).scaled(schedule)
    given = (("epochs", epochs), ("loss", loss), ("seed", seed), ("init_from", init_from), ("sync_batch_norm", sync_bn or None))
    overrides = {k: v for k, v in given if v is not None}
    recipe = dataclasses.replace(recipe, **overrides)
    output = output or os.path.join(hub.local_checkpoints_dir(), recipe.name)
    main = os.environ.get("RANK", "0") == "0"
    if main:
        click.echo(f"training {recipe.name} ({recipe.schedule}, {recipe.epochs} epochs) -> {output}")
    try:
        report = run(recipe, output, data_dir=data_dir, resume=resume, verbose=1 if sys.stdout.isatty() else 2)
    except KeyboardInterrupt:
        if is_interrupted(output):
            raise click.ClickException(
                f"interrupted; {output} keeps the last finished epoch: run the same command with --resume to continue it."
            ) from None
        raise click.ClickException(f"interrupted before the first epoch was saved; nothing to resume in {output}.") from None
    if report is not None:
        click.echo(format_table(report))
        click.echo(f"checkpoint: {output}")


def _arguments(ctx):
    """This `train` command's arguments for each torchrun rank: the same, without `--devices`."""
    arguments = ["train"]
    for param in ctx.command.params:
        value = ctx.params[param.name]
        if param.name == "devices" or value is None or value is False:
            continue
        arguments += [param.opts[0]] if param.is_flag else [param.opts[0], str(value)]
    return arguments
