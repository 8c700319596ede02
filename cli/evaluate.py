"""`keras-lt evaluate`: long-tailed metrics of a checkpoint on a dataset split."""

import json
import os

import click

from keras_lt import evaluation
from keras_lt.cli.checkpoint import adjusted_logits
from keras_lt.cli.checkpoint import load_model
from keras_lt.cli.checkpoint import train_counts
from keras_lt.cli.errors import one_line_errors
from keras_lt.data import load_dataset
from keras_lt.errors import DataError
from keras_lt.inference import predict_logits

PLOTS = {
    "per_class_accuracy.png": evaluation.plot_per_class_accuracy,
    "confusion_matrix.png": evaluation.plot_confusion_matrix,
}


def load_split(dataset, split, data_dir, class_names, image_size):
    """The split's images (resized to `image_size` if an image folder) and labels, checked against the model."""
    images, labels, data_class_names = load_dataset(dataset, split, data_dir, image_size=image_size)
    if len(data_class_names) != len(class_names):
        raise DataError(
            f"the {dataset} '{split}' data has {len(data_class_names)} classes but the model has "
            f"{len(class_names)}; evaluate on the dataset the model was trained on."
        )
    if tuple(images.shape[1:3]) != image_size:
        raise DataError(
            f"the {dataset} '{split}' images are {images.shape[1]}x{images.shape[2]} but the model takes "
            f"{image_size[0]}x{image_size[1]}; give an image folder to have them resized."
        )
    if list(data_class_names) != list(class_names):
        click.echo("warning: the data's class names differ from the model's; labels are matched by order.", err=True)
    return images, labels


def format_pairs(pairs):
    """The confusion pairs as `true -> predicted: count` lines."""
    return "\n".join(f"{p['true']} -> {p['predicted']}: {p['count']}" for p in pairs)


@click.command()
@click.argument("model")
@click.option("--dataset", help="cifar10, cifar100 or folder [default: the checkpoint's dataset].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Image folder, CIFAR archive dir or tfds dir.")
@click.option("--split", default="test", show_default=True, help="The split to evaluate on.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file instead of stdout.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, writable=True), help="Write per-class accuracy and confusion-matrix PNGs here.")
@click.option("--confusion-pairs", type=click.IntRange(min=1), help="Also report the K most frequent confusions.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per forward pass [default: 64 of 32x32, fewer larger ones: under 1 GB; on a GPU, 256 is faster at 224 px].")
@click.option("--logit-adjust", "tau", type=float, help="Post-hoc logit adjustment: subtract TAU * log(training prior) from the logits.")
@one_line_errors
def evaluate(model, dataset, data_dir, split, output_format, output, plots_dir, confusion_pairs, batch_size, tau):
    """Evaluate MODEL on a split: top-1/5, many/medium/few, per-class, calibration.

    MODEL is a zoo name, a checkpoint directory or hf://ORG/NAME[@REVISION]. Shot groups use the
    training counts stored in the checkpoint, as does --logit-adjust (Menon et al.'s post-hoc
    correction, tau 1 for the balanced error; for a model trained with plain CE).
    """
    network, class_names, image_size = load_model(model)
    config = network.keras_lt_config
    dataset = dataset or (config.get("dataset") or {}).get("name")
    if not dataset:
        raise DataError(f"{model} does not say which dataset it was trained on; pass --dataset.")
    counts = train_counts(network, model, "they define many/medium/few")
    images, labels = load_split(dataset, split, data_dir, class_names, image_size)
    logits = adjusted_logits(network, model, predict_logits(network, images, batch_size), tau)
    report = evaluation.evaluate_predictions(logits, labels, counts, class_names)
    pairs = None
    if confusion_pairs:
        pairs = evaluation.top_confusion_pairs(report["confusion_matrix"], confusion_pairs, class_names)
    if output_format == "json":
        text = json.dumps(report if pairs is None else {**report, "confusion_pairs": pairs}, indent=2)
    else:
        text = evaluation.format_table(report)
        if pairs is not None:
            text += "\n\nmost frequent confusions (true -> predicted: count)\n" + (format_pairs(pairs) or "(none)")
    if output:
        with open(output, "w") as f:
            f.write(text + "\n")
        click.echo(f"report: {output}", err=True)
    else:
        click.echo(text)
    if plots_dir:
        os.makedirs(plots_dir, exist_ok=True)
        for name, plot in PLOTS.items():
            plot(report, os.path.join(plots_dir, name))
            click.echo(f"plot: {os.path.join(plots_dir, name)}", err=True)
