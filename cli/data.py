"""`keras-lt data profile`: the class profile of an image folder, without decoding an image."""

import json
import os

import click
import numpy as np

from keras_lt.cli.errors import one_line_errors
from keras_lt.data.image_folder import list_image_folder
from keras_lt.data.profiles import imbalance_factor
from keras_lt.data.profiles import shot_groups
from keras_lt.evaluation import plot_class_histogram

MANY_THRESHOLD = 100
FEW_THRESHOLD = 20


def profile_image_folder(root, split):
    """Counts, imbalance factor and shot groups of `<root>/<split>/<class>/<images>`.

    Returns:
        A JSON-serialisable dict: `root`, `split`, `num_images`, `num_classes`, `imbalance_factor`
        (largest over smallest non-empty class), `thresholds`, `group_sizes` and `classes`, a list of
        `{"name", "count", "group"}` sorted by count, largest first (ties by name).

    Example:
    >>> profile_image_folder("my-data", "train")["imbalance_factor"]
    """
    _, labels, class_names = list_image_folder(root, split)
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
@click.option("--split", default="train", show_default=True, help="The split folder to profile.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), help="Save the class histogram (PNG) here (its folder is created).")
@one_line_errors
def profile(root, split, output_format, plot):
    """Class counts, imbalance factor and many/medium/few classes of an image folder.

    ROOT holds SPLIT/<class>/<images>; files are counted, not decoded.
    """
    result = profile_image_folder(root, split)
    click.echo(json.dumps(result, indent=2) if output_format == "json" else format_profile(result))
    if plot:
        os.makedirs(os.path.dirname(os.path.abspath(plot)), exist_ok=True)
        names = [c["name"] for c in result["classes"]]
        plot_class_histogram([c["count"] for c in result["classes"]], names, plot, MANY_THRESHOLD, FEW_THRESHOLD)
        click.echo(f"plot: {plot}", err=True)
