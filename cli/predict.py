"""`keras-lt predict`: the top-k classes of image files, folders, or the bundled sample images."""

import csv
import functools
import io
import json
import os
from importlib import resources

import click
import numpy as np

from keras_lt.cli.checkpoint import adjusted_logits
from keras_lt.cli.checkpoint import is_streamed
from keras_lt.cli.checkpoint import load_model
from keras_lt.cli.errors import one_line_errors
from keras_lt.cli.options import logit_adjust_option
from keras_lt.data.eval_transform import EvalTransform
from keras_lt.data.image_folder import image_files_under
from keras_lt.data.image_folder import read_image
from keras_lt.errors import DataError
from keras_lt.evaluation import log_softmax
from keras_lt.inference import inference_batch_size
from keras_lt.inference import predict_logits


def sample_images_dir():
    """The folder of sample images shipped in the package (one CIFAR-10 test image per class)."""
    return str(resources.files("keras_lt.data") / "samples")


def image_files(paths):
    """Files as given, and the image files under folders (`image_files_under`), in order.

    Folders are searched recursively, following links to folders; hidden entries are left out.
    An entry under a folder that cannot be read (a broken link, a FIFO named like an image, a
    folder that cannot be listed) is skipped with a line on stderr, as an unreadable image is.
    """
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += image_files_under(path, skipped=lambda entry, why: click.echo(f"skipped: {entry}: {why}", err=True))
        else:
            files.append(path)
    return files


def image_reader(config, size):
    """`read(path)`: an image file as the checkpoint's test images were read, uint8 `(h, w, 3)` of `size`.

    A checkpoint trained on streamed data (`keras_lt.cli.checkpoint.is_streamed`) sees the
    evaluation view `evaluate` gives it (`keras_lt.data.EvalTransform`: the shorter side resized
    to 256/224 of the crop, centre crop); any other one the image fitted in memory (`read_image`).
    """
    dataset = (config.get("dataset") or {}).get("name")
    if is_streamed(dataset, config) and size[0] == size[1]:
        return EvalTransform(size[0])
    return functools.partial(read_image, size=size)


def predict_files(network, files, read, batch_size):
    """Decodes and predicts `files` one batch at a time, so memory does not grow with their number.

    A file that cannot be read (corrupt, not an image, too large, not a regular file) is skipped
    with a line on stderr; the others are predicted.

    Args:
        network: the model.
        files: image file paths.
        read: `read(path)`, the file's uint8 image of the model's size (`image_reader`).
        batch_size: images per forward pass.

    Returns:
        The files read and their logits, in order.

    Raises:
        DataError: not one file could be read.

    Example:
    >>> files, logits = predict_files(model, ["cat.jpg", "dog.png"], image_reader(config, (32, 32)), 64)
    """
    read_files, logits = [], []
    for start in range(0, len(files), batch_size):
        images = []
        for path in files[start:start + batch_size]:
            try:
                images.append(read(path))
            except DataError as error:
                click.echo(f"skipped: {error}", err=True)
                continue
            read_files.append(path)
        if images:
            logits.append(predict_logits(network, np.stack(images), batch_size))
    if not read_files:
        raise DataError("no image to predict: give image files or folders holding images (jpg, png, ...).")
    return read_files, np.concatenate(logits)


def top_k_predictions(paths, probabilities, class_names, k):
    """`[{"path", "predictions": [{"class", "probability"}, ...]}]`, most probable class first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return [
        {
            "path": path,
            "predictions": [{"class": class_names[c], "probability": float(row[c])} for c in classes],
        }
        for path, row, classes in zip(paths, probabilities, order)
    ]


def format_csv(results):
    """One row per image and rank: `path,rank,class,probability`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "rank", "class", "probability"])
    for result in results:
        for rank, p in enumerate(result["predictions"], 1):
            writer.writerow([result["path"], rank, p["class"], f"{p['probability']:.6f}"])
    return buffer.getvalue().rstrip("\n")


def format_table(results):
    """One line per image: its path, then the top-k classes with their probabilities."""
    path_width = max(5, *(len(r["path"]) for r in results))
    name_width = max(len(p["class"]) for r in results for p in r["predictions"])
    k = len(results[0]["predictions"])
    lines = [f"{'image':<{path_width}}  " + "  ".join(f"{f'top-{rank}':<{name_width + 8}}" for rank in range(1, k + 1))]
    for result in results:
        cells = [f"{p['class']:<{name_width}} {100 * p['probability']:6.2f}%" for p in result["predictions"]]
        lines.append(f"{result['path']:<{path_width}}  " + "  ".join(cells))
    return "\n".join(line.rstrip() for line in lines)


FORMATS = {"table": format_table, "json": lambda results: json.dumps(results, indent=2), "csv": format_csv}


@click.command()
@click.argument("model")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True, help="Classes to show per image.")
@click.option("--format", "output_format", type=click.Choice(list(FORMATS)), default="table", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), help="Images per forward pass [default: 8 of 224x224, 392 of 32x32: under 1 GB].")
@logit_adjust_option
@one_line_errors
def predict(model, paths, top_k, output_format, batch_size, tau):
    """Predict the top-k classes of images: files, folders or the bundled samples.

    MODEL is a zoo name, a checkpoint directory or hf://ORG/NAME[@REVISION]. PATHS are image files
    in any size or mode, and folders, searched recursively; with none, the sample images bundled
    with keras-lt are used. Images are read as the model's test images were: fitted (shorter side,
    centre crop), or for a model trained on streamed data resized to 256/224 of its side and
    centre-cropped. Unreadable files are skipped with a line on stderr. --logit-adjust
    shows the probabilities of the post-hoc adjusted logits (the checkpoint's training prior).
    """
    network, class_names, image_size = load_model(model)
    if not paths:
        paths = (sample_images_dir(),)
        click.echo(f"no PATHS given: predicting the bundled sample images in {paths[0]}", err=True)
    read = image_reader(network.keras_lt_config, image_size)
    files, logits = predict_files(network, image_files(paths), read, batch_size or inference_batch_size(image_size))
    logits = adjusted_logits(network, model, logits, tau)
    probabilities = np.exp(log_softmax(np.asarray(logits, dtype=np.float64)))
    results = top_k_predictions(files, probabilities, class_names, min(top_k, len(class_names)))
    click.echo(FORMATS[output_format](results))
