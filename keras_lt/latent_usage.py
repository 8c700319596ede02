"""Which latent category each image region uses, for models with LCReg's latent categories.

`latent_assignments` runs a network up to its `LatentCategoryReconstruction` and returns the
per-position softmax weights over the latent categories and the winning latent per position;
`plot_latent_usage` draws, for a few images (e.g. head and tail test images), the image, the map of
winning latents over it, and the image's latent usage histogram (the share of its regions each
latent wins; LCReg's Figure 4 shows the mean weights, which `latent_assignments` returns: with a
softmax over sigmoid similarities they stay within a factor e of uniform, so the winners read
better). The plot needs matplotlib (the `plots` extra), imported only when drawing, without pyplot.
"""

import keras
import numpy as np

from keras_lt.errors import KerasLTError
from keras_lt.evaluation import _new_figure
from keras_lt.evaluation import _save
from keras_lt.models.latent import latent_layer


def latent_assignments(network, images, batch_size=256):
    """Per-position latent weights `S^` and the winning latent of every position.

    Args:
        network: a keras-lt model with latent categories (`"latent_categories"` in its architecture).
        images: `(N, H, W, C)` images in 0..255.
        batch_size: images per forward pass.

    Returns:
        `(weights, assignment)`: float32 `(N, h, w, M)` and int `(N, h, w)` NumPy arrays on the
        feature map's grid (8 x 8 for a CIFAR ResNet on 32 x 32 images).

    Example:
    >>> weights, assignment = latent_assignments(keras_lt.from_pretrained("runs/lcreg"), images[:4])
    """
    layer = latent_layer(network)
    if layer is None:
        raise KerasLTError("this model has no latent categories (train it with the lcreg method).")
    probe = keras.Model(network.input, layer.output[1])
    weights = np.asarray(probe.predict(np.asarray(images), batch_size=batch_size, verbose=0))
    if layer.data_format == "channels_first":
        weights = np.transpose(weights, (0, 2, 3, 1))
    return weights, weights.argmax(-1)


def plot_latent_usage(network, images, labels, class_names, path, class_counts=None):
    """Draws which latent category wins where, and each image's latent usage, to a PNG.

    One row per image: the image with its label (and training count, marking head and tail), the
    winning latent of every feature-map cell drawn over the image (nearest upsampling, one colour
    per latent, the ids of the latents it uses written in), and the share of the image's regions
    each latent wins (a bar per latent, coloured as in the map), so the latents that head and tail
    images share stand out.

    Args:
        network: a keras-lt model with latent categories.
        images: `(N, H, W, 3)` uint8 images (a few: one row each).
        labels: their `(N,)` integer labels.
        class_names: names of the classes, in label order.
        path: the PNG file to write.
        class_counts: training images per class; defaults to the model's `train_class_counts`.

    Returns:
        The `matplotlib.figure.Figure`.

    Example:
    >>> plot_latent_usage(model, test_images[idx], test_labels[idx], names, "latent_usage.png")
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    weights, assignment = latent_assignments(network, images)
    num_latents = weights.shape[-1]
    if class_counts is None:
        class_counts = (getattr(network, "keras_lt_config", None) or {}).get("train_class_counts") or None
    figure = _new_figure((9.0, 2.4 * len(images)))
    from matplotlib import colormaps

    colours = colormaps["hsv"](np.linspace(0.0, 1.0, num_latents, endpoint=False))
    grid = figure.subplots(len(images), 3, squeeze=False, gridspec_kw={"width_ratios": [1, 1, 2.2]})
    height, width = images.shape[1:3]
    for row, (image, label) in enumerate(zip(images, labels)):
        title = class_names[int(label)]
        if class_counts is not None:
            title += f" (n={int(class_counts[int(label)])})"
        axes = grid[row]
        axes[0].imshow(image.astype(np.uint8))
        axes[0].set_title(title, fontsize=8)
        cells = assignment[row]
        axes[1].imshow(image.astype(np.uint8))
        axes[1].imshow(
            colours[cells], alpha=0.55, extent=(-0.5, width - 0.5, height - 0.5, -0.5), interpolation="nearest"
        )
        step_y, step_x = height / cells.shape[0], width / cells.shape[1]
        for (i, j), latent in np.ndenumerate(cells):
            axes[1].text((j + 0.5) * step_x - 0.5, (i + 0.5) * step_y - 0.5, str(int(latent)),
                         ha="center", va="center", fontsize=5)
        axes[1].set_title("winning latent per region", fontsize=8)
        usage = np.bincount(cells.reshape(-1), minlength=num_latents) / cells.size
        axes[2].bar(np.arange(num_latents), usage, color=colours, width=0.9)
        axes[2].set_xlim(-1, num_latents)
        axes[2].set_ylim(0, 1)
        axes[2].set_title("share of regions won by each latent", fontsize=8)
        axes[2].tick_params(labelsize=6)
        for ax in axes[:2]:
            ax.set_xticks([])
            ax.set_yticks([])
    grid[-1][2].set_xlabel("latent category", fontsize=8)
    _save(figure, path)
    return figure
