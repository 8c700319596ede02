"""`keras-lt decouple`: decoupled stage 2 (cRT, LWS, tau-norm) on a trained checkpoint."""

import sys

import click

from keras_lt.cli.errors import one_line_errors
from keras_lt.cli.options import FiniteFloat
from keras_lt.cli.options import RecipeNumber
from keras_lt.decoupling import decouple_checkpoint
from keras_lt.evaluation import format_table
from keras_lt.trainers.decoupled import METHODS


@click.command("decouple")
@click.argument("model")
@click.option("--method", type=click.Choice(METHODS), required=True, help="crt, lws or tau-norm.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="MODEL's training data: image folder, CIFAR archive dir or tfds dir.")
@click.option("--dataset", help="cifar10, cifar100 or folder [default: the checkpoint's recipe, else cifar10].")
@click.option("--imbalance-factor", type=RecipeNumber("imbalance_factor"), help="Long-tail profile of the training split (at least 1), 0 for none [default: the checkpoint's recipe, else 100].")
@click.option("--epochs", type=RecipeNumber("epochs"), help="Training epochs of crt / lws [default: 10 / 5; short30 uses 3].")
@click.option("--lr", type=RecipeNumber("lr"), help="Initial learning rate of the cosine schedule [default: 0.05].")
@click.option("--tau", type=FiniteFloat(), default=1.0, show_default=True, help="The tau-norm exponent.")
@click.option("--output", type=click.Path(file_okay=False), help="Checkpoint directory [default: the local checkpoint MODEL-METHOD].")
@click.option("--seed", type=RecipeNumber("seed"), default=0, show_default=True, help="Seed of the re-initialisation, sampling and augmentation.")
@click.option("--overwrite", is_flag=True, help="Replace the checkpoint of this decoupling in --output.")
@one_line_errors
def decouple(model, method, data_dir, dataset, imbalance_factor, epochs, lr, tau, output, seed, overwrite):
    """Re-balance MODEL's classifier (Kang et al., 2020), evaluate it and save a new checkpoint.

    MODEL is a zoo name, a checkpoint directory or hf://ORG/NAME[@REVISION]. crt re-trains a
    re-initialised classifier on the frozen backbone with class-balanced sampling; lws freezes the
    model and learns a per-class logit scale; tau-norm divides each class's weights by their norm
    to the power tau, without training. The training split is selected as MODEL's recipe selected it.
    """
    settings = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
    click.echo(f"decoupling {model} with {method}")
    report, output = decouple_checkpoint(
        model, method, output, data_dir, dataset, imbalance_factor, overwrite=overwrite,
        verbose=1 if sys.stdout.isatty() else 2, tau=tau, seed=seed, **settings,
    )
    click.echo(format_table(report))
    click.echo(f"checkpoint: {output}")
