"""`keras-lt data profile`: the class profile of an image folder or a split file, without decoding an image."""

import json
import os

import click
import numpy as np

from keras_lt.cli.errors import one_line_errors
from keras_lt.data.file_sources import SPLIT_FILE_DATASETS
from keras_lt.data.file_sources import load_image_files
from keras_lt.data.profiles import imbalance_factor
from keras_lt.data.profiles import shot_groups
from keras_lt.evaluation import figure_class
from keras_lt.evaluation import plot_class_histogram
from keras_lt.files import check_writable

MANY_THRESHOLD = 100
FEW_THRESHOLD = 20


def profile_dataset(root, split, dataset="folder"):
    """Counts, imbalance factor and shot groups of a split, from its file names or split file alone.

    Args:
        root: the image folder (`<root>/<split>/<class>/<images>`), or the image root of a
            split-file dataset (its `ImageNet_LT_train.txt`-style files in `root` or
            `root/ImageNet_LT/`).
        split: the split to profile.
        dataset: "folder", or a split-file dataset ("imagenet_lt", "places_lt", "inat2018").

    Returns:
        A JSON-serialisable dict: `root`, `split`, `num_images`, `num_classes`, `imbalance_factor`
        (largest over smallest non-empty class), `thresholds`, `group_sizes` and `classes`, a list of
        `{"name", "count", "group"}` sorted by count, largest first (ties by name).

    Example:
    >>> profile_dataset("my-data", "train")["imbalance_factor"]
    >>> profile_dataset("/data/imagenet", "train", "imagenet_lt")["group_sizes"]
    """
    _, labels, class_names = load_image_files(dataset, split, root, workers=0)
    counts = np.bincount(labels, minlength=len(class_names))
    groups = shot_groups(counts, MANY_THRESHOLD, FEW_THRESHOLD)
    group_of = np.empty(len(counts), dtype=object)
    for group, idx in groups.items():
        group_of[idx] = group
    order = np.argsort(-counts, kind="stable")
    return {
        "root": root,
        "split": split,
        "num_images": int(counts.sum()),
        "num_classes": len(class_names),
        "imbalance_factor": imbalance_factor(counts),
        "thresholds": {"many": MANY_THRESHOLD, "few": FEW_THRESHOLD},
        "group_sizes": {group: len(idx) for group, idx in groups.items()},
        "classes": [{"name": class_names[c], "count": int(counts[c]), "group": group_of[c]} for c in order],
    }


def format_profile(profile):
    """The profile as a summary and a table of classes, largest first."""
    sizes = profile["group_sizes"]
    lines = [
        f"{profile['root']}/{profile['split']}: {profile['num_images']} images, {profile['num_classes']} classes, "
        f"imbalance factor {profile['imbalance_factor']:.2f}",
        f"many {sizes['many']}, medium {sizes['medium']}, few {sizes['few']} classes "
        f"(many > {MANY_THRESHOLD}, few < {FEW_THRESHOLD} images)",
        "",
    ]
    width = max(5, *(len(c["name"]) for c in profile["classes"]))
    lines.append(f"{'rank':>4}  {'class':<{width}}  {'images':>7}  {'share':>6}  group")
    for rank, c in enumerate(profile["classes"], 1):
        share = 100.0 * c["count"] / profile["num_images"]
        lines.append(f"{rank:>4}  {c['name']:<{width}}  {c['count']:>7}  {share:>5.1f}%  {c['group']}")
    return "\n".join(lines)


@click.group()
def data():
    """Inspect datasets."""


@data.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="train", show_default=True, help="The split to profile.")
@click.option("--dataset", type=click.Choice(["folder", *SPLIT_FILE_DATASETS]), default="folder", show_default=True, help="An image folder, or the split files of a benchmark under ROOT.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), help="Save the class histogram (PNG) here (its folder is created).")
@one_line_errors
def profile(root, split, dataset, output_format, plot):
    """Class counts, imbalance factor and many/medium/few classes of an image folder or split file.

    ROOT holds SPLIT/<class>/<images>, or with --dataset imagenet_lt, places_lt or inat2018 that
    benchmark's split files (ImageNet_LT_train.txt, ...); files are counted, not decoded.
    """
    if plot:
        figure_class()
        check_writable(os.path.dirname(plot) or ".", "--plot")  # before the data is read
    result = profile_dataset(root, split, dataset)
    click.echo(json.dumps(result, indent=2) if output_format == "json" else format_profile(result))
    if plot:
        os.makedirs(os.path.dirname(os.path.abspath(plot)), exist_ok=True)
        names = [c["name"] for c in result["classes"]]
        plot_class_histogram([c["count"] for c in result["classes"]], names, plot, MANY_THRESHOLD, FEW_THRESHOLD)
        click.echo(f"plot: {plot}", err=True)
