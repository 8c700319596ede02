"""`keras-lt evaluate`: long-tailed metrics of a checkpoint on a dataset split."""

import json
import os

import click

from keras_lt import evaluation
from keras_lt import training_data
from keras_lt.cli.checkpoint import adjusted_logits
from keras_lt.cli.checkpoint import is_streamed
from keras_lt.cli.checkpoint import load_model
from keras_lt.cli.checkpoint import train_counts
from keras_lt.cli.errors import one_line_errors
from keras_lt.cli.options import logit_adjust_option
from keras_lt.data import load_dataset
from keras_lt.data import load_image_files
from keras_lt.data.file_sources import SPLIT_FILE_DATASETS
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.errors import DataError
from keras_lt.files import check_writable
from keras_lt.inference import predict_logits
from keras_lt.recipes import Recipe

PLOTS = {
    "per_class_accuracy.png": evaluation.plot_per_class_accuracy,
    "confusion_matrix.png": evaluation.plot_confusion_matrix,
}


def load_split(dataset, split, data_dir, class_names, image_size, stream=False, workers=None):
    """The split's images and labels, checked against the model.

    Split-file datasets (ImageNet-LT, Places-LT, iNaturalist 2018), and any folder when `stream`,
    stay on disk as a `keras_lt.data.ImageFiles`, decoded batch by batch at evaluation (resize,
    centre crop `image_size`); the others are decoded into memory (an image folder resized to
    `image_size`).

    Args:
        dataset: "cifar10", "cifar100", "folder", or a split-file dataset.
        split: the split to load.
        data_dir: where the data is.
        class_names: the model's class names.
        image_size: the model's `(height, width)`.
        stream: stream the data from disk even if it is a folder (for a model trained on streamed data).
        workers: decoding processes for streamed data (None: `keras_lt.data.image_files.default_workers()`).

    Returns:
        `(images, labels)`: uint8 NHWC images or an `ImageFiles`, and int64 labels.

    Example:
    >>> files, labels = load_split("imagenet_lt", "test", "/data/imagenet", names, (224, 224))
    """
    if dataset in SPLIT_FILE_DATASETS or stream:
        if image_size[0] != image_size[1]:
            raise DataError(f"{dataset} images are streamed as square crops but the model takes "
                            f"{image_size[0]}x{image_size[1]}.")
        images, labels, data_class_names = load_image_files(dataset, split, data_dir, image_size[0], workers)
    else:
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
        data_names, model_names = set(data_class_names), set(class_names)
        if data_names & model_names:  # names in common: another set of classes, not other names for the same ones
            unknown, missing = ", ".join(sorted(data_names - model_names)), ", ".join(sorted(model_names - data_names))
            raise DataError(
                f"the {dataset} '{split}' classes are not the model's (not in the model: {unknown}; not in the data: "
                f"{missing}); evaluate on the classes the model was trained on."
            )
        click.echo("warning: the data's class names differ from the model's; labels are matched by order.", err=True)
    return images, labels


def held_out_split(model, config, data_dir, workers=None):
    """The test split that a run on an image folder without test/ held out of its train/ folder, drawn again.

    `keras_lt.training_data.held_out_test` draws it from the run's recipe; the training and test counts
    it gives must be those the run stored, or one `DataError` line says train/ has changed. A run
    whose folder (as its checkpoint records it) has a test/ folder held nothing out: then one
    `DataError` line says that `data_dir` has no test/ folder.

    Args:
        model: the checkpoint as the user named it.
        config: its `keras_lt_config`.
        data_dir: the image folder the run trained on.
        workers: decoding processes for streamed data.

    Returns:
        `(images, labels)` of the held-out split.

    Example:
    >>> images, labels = held_out_split("runs/photos", network.keras_lt_config, "my_photos")
    """
    dataset = config.get("dataset") or {}
    trained_on, held_out = dataset.get("data_dir"), dataset.get("test_held_out")
    if held_out is None:  # a checkpoint from before the record: its folder, if it is still where it was
        held_out = not trained_on or training_data.holds_out_test("folder", trained_on)
    if not held_out:
        raise DataError(
            f"{data_dir} has no test/ folder: {model} was tested on {os.path.join(trained_on, 'test')}, not on images "
            "held out of train/; give a folder with test/<class>/<images>."
        )
    images, labels, counts = training_data.held_out_test(Recipe.from_stored(config["recipe"]), data_dir, workers)
    trained = (config["train_class_counts"], (config.get("dataset") or {}).get("test_images"))
    found = (counts.tolist(), len(labels))
    if found != trained:
        raise DataError(
            f"{os.path.join(data_dir, 'train')} no longer holds the images {model} was trained on ({sum(found[0])} "
            f"training and {found[1]} held-out images per its recipe now, {sum(trained[0])} and {trained[1]} then); "
            "evaluate on the folder as it was trained on."
        )
    click.echo(
        f"split: the {training_data.HOLDOUT:.0%} of each class of {os.path.join(data_dir, 'train')} that the run held "
        f"out for its test metrics ({data_dir} has no test/ folder).", err=True,
    )
    return images, labels


def make_folder(folder, option):
    """Creates `folder`, where `option`'s files go, once a file can be written there (`check_writable`).

    Called before the evaluation: a place that cannot be written fails in one line before the work.
    """
    check_writable(folder, option)
    os.makedirs(folder, exist_ok=True)


def format_pairs(pairs):
    """The confusion pairs as `true -> predicted: count` lines."""
    return "\n".join(f"{p['true']} -> {p['predicted']}: {p['count']}" for p in pairs)


@click.command()
@click.argument("model")
@click.option("--dataset", help=f"cifar10, cifar100, folder, {', '.join(SPLIT_FILE_DATASETS)} [default: the checkpoint's dataset].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Image folder, CIFAR archive dir, tfds dir, or the image root of a split-file dataset's split files.")
@click.option("--split", default="test", show_default=True, help="The split to evaluate on.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file instead of stdout (its folder is created).")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, writable=True), help="Write per-class accuracy and confusion-matrix PNGs here.")
@click.option("--confusion-pairs", type=click.IntRange(min=1), help="Also report the K most frequent confusions.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per forward pass [default: 8 of 224x224, 392 of 32x32: under 1 GB; on a GPU, 256 is faster at 224 px].")
@click.option("--workers", type=click.IntRange(min=0), help=f"Image-decoding processes (streamed data) [default: ${WORKERS_ENV} or the cores, at most 8].")
@logit_adjust_option
@one_line_errors
def evaluate(model, dataset, data_dir, split, output_format, output, plots_dir, confusion_pairs, batch_size, workers,
             tau):
    """Evaluate MODEL on a split: top-1/5, many/medium/few, per-class, calibration.

    MODEL is a zoo name, a checkpoint directory or hf://ORG/NAME[@REVISION]. Shot groups use the
    training counts stored in the checkpoint, as does --logit-adjust (Menon et al.'s post-hoc
    correction, tau 1 for the balanced error; for a model trained with plain CE). ImageNet-LT,
    Places-LT and iNaturalist 2018 (their split files in --data-dir), and the folders of models
    trained on streamed data, are read from disk batch by batch: resized and centre-cropped. The
    test split of a run on an image folder without test/ is the share of train/ it held out, drawn
    again from the run's recipe.
    """
    if output:
        make_folder(os.path.dirname(os.path.abspath(output)), "--output")
    if plots_dir:
        evaluation.figure_class()
        make_folder(plots_dir, "--plots")
    network, class_names, image_size = load_model(model)
    config = network.keras_lt_config
    dataset = dataset or (config.get("dataset") or {}).get("name")
    if not dataset:
        raise DataError(f"{model} does not say which dataset it was trained on; pass --dataset.")
    counts = train_counts(network, model, "they define many/medium/few")
    recipe = config.get("recipe") or {}
    if dataset == "folder" and data_dir and not os.path.isdir(os.path.expanduser(data_dir)):
        raise DataError(f"{data_dir} does not exist; pass --data-dir with an image folder ({split}/<class>/<images>).")
    if split == "test" and data_dir and recipe.get("dataset") == dataset and training_data.holds_out_test(dataset, data_dir):
        images, labels = held_out_split(model, config, data_dir, workers)
    else:
        images, labels = load_split(
            dataset, split, data_dir, class_names, image_size, is_streamed(dataset, config), workers
        )
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
        for name, plot in PLOTS.items():
            plot(report, os.path.join(plots_dir, name))
            click.echo(f"plot: {os.path.join(plots_dir, name)}", err=True)
