"""A tiny ImageNet-LT-style data set for the streaming tests: JPEGs of several sizes and OLTR split files."""

import os

import numpy as np
from PIL import Image

TRAIN_COUNTS = (6, 3, 2)  # long-tailed: 11 training images
TEST_PER_CLASS = 2
SIZES = ((40, 30), (64, 48), (37, 53), (80, 80), (300, 200), (50, 70))  # (width, height)


def write_tree(root):
    """Writes `train/n0c/*.JPEG`, `val/n0c/*.JPEG` and `ImageNet_LT_train.txt` / `_test.txt` under `root`.

    Class c's images are mostly colour channel c (so a few steps learn something), with noise; one
    training image is greyscale. Returns `{split: [(relative path, label), ...]}`.
    """
    rng = np.random.default_rng(0)
    listed = {"train": [], "test": []}
    for split, folder, counts in (("train", "train", TRAIN_COUNTS), ("test", "val", (TEST_PER_CLASS,) * 3)):
        for label, count in enumerate(counts):
            os.makedirs(os.path.join(root, folder, f"n0{label}"), exist_ok=True)
            for i in range(count):
                width, height = SIZES[(label + i) % len(SIZES)]
                pixels = rng.integers(0, 60, (height, width, 3)) + 180 * np.eye(3, dtype=int)[label]
                image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
                if split == "train" and label == 0 and i == 1:
                    image = image.convert("L")
                relative = f"{folder}/n0{label}/{split}_{i}.JPEG"
                image.save(os.path.join(root, relative), quality=90)
                listed[split].append((relative, label))
    for split, name in (("train", "ImageNet_LT_train.txt"), ("test", "ImageNet_LT_test.txt")):
        with open(os.path.join(root, name), "w") as f:
            f.writelines(f"{path} {label}\n" for path, label in listed[split])
    return listed
