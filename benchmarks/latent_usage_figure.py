"""Draws which latent category wins where, for a few head- and tail-class test images of an LCReg model.

    python benchmarks/latent_usage_figure.py MODEL --data-dir DIR --out latent_usage.png \
        [--classes 0 1 8 9] [--per-class 2]

MODEL is a checkpoint (zoo name or directory) with latent categories; the images are the first
`--per-class` test images of each listed class, in the test split's order (no selection by result).
"""

import argparse

import numpy as np

import keras_lt
from keras_lt.data import load_dataset
from keras_lt.latent_usage import plot_latent_usage


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--out", required=True)
    parser.add_argument("--classes", type=int, nargs="+", help="Classes to show [default: the two largest and two smallest].")
    parser.add_argument("--per-class", type=int, default=2)
    args = parser.parse_args()
    network = keras_lt.from_pretrained(args.model)
    counts = np.asarray(network.keras_lt_config["train_class_counts"])
    order = np.argsort(-counts, kind="stable")
    classes = args.classes or [*order[:2], *order[-2:]]
    images, labels, class_names = load_dataset(args.dataset, "test", args.data_dir)
    picked = np.concatenate([np.flatnonzero(labels == c)[: args.per_class] for c in classes])
    plot_latent_usage(network, images[picked], labels[picked], class_names, args.out, class_counts=counts)
    print(f"classes {[class_names[c] for c in classes]} (training counts {[int(counts[c]) for c in classes]}) -> {args.out}")


if __name__ == "__main__":
    main()
