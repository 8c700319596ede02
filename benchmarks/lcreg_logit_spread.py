"""How much LCReg's latent branch moves the logits of a trained model, in inference mode.

    python benchmarks/lcreg_logit_spread.py MODEL [MODEL ...] --data-dir DIR [--batch-size 128]

For each MODEL (a checkpoint with latent categories: zoo name or directory) and each split (its
recipe's long-tailed training images, un-augmented, and the test images), in batches of
`--batch-size` of the split in one fixed shuffled order (the training images are stored class by
class: in their own order a batch holds mostly one class, and its spread says little): the spread across the batch (standard deviation over the
images, averaged over the classes) of `classifier(GAP(f^))`, the latent branch's share of the
logits, and of `classifier(GAP(f))`, the backbone's, averaged over the batches. This is the
quantity training logs per epoch as `latent_logit_spread` / `feature_logit_spread`
(`keras_lt.trainers.LatentReconstruction`), there in training mode on augmented, mixed batches.
"""

import argparse

import numpy as np
import torch

import keras_lt
from keras_lt.models.latent import training_view
from keras_lt.recipes import Recipe
from keras_lt.trainers.latent_reconstruction import logit_spread
from keras_lt.training_data import prepare_data


def spreads(network, images, batch_size):
    """`(latent, feature)` logit spreads of `network` over `images`, averaged over batches of a seed-0 shuffle."""
    view = training_view(network)
    order = np.random.default_rng(0).permutation(len(images))
    latent, feature = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            _, features, reconstruction, _ = view(images[order[start:start + batch_size]], training=False)
            latent.append(float(logit_spread(network, reconstruction)))
            feature.append(float(logit_spread(network, features)))
    return np.mean(latent), np.mean(feature)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    print("model | split | latent spread | feature spread | ratio")
    for name in args.models:
        network = keras_lt.from_pretrained(name)
        data = prepare_data(Recipe.from_stored(network.keras_lt_config["recipe"]), args.data_dir)
        for split, images in (("train", data.train_images), ("test", data.test_images)):
            latent, feature = spreads(network, images, args.batch_size)
            print(f"{name} | {split} ({len(images)} images) | {latent:.3f} | {feature:.3f} | {feature / latent:.0f}x")


if __name__ == "__main__":
    main()
