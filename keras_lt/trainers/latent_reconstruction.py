"""LCReg's latent-category reconstruction (Liu et al., "Long-tailed recognition by learning from latent categories") as a regulariser."""

import keras
import torch

from keras_lt.errors import KerasLTError
from keras_lt.layers.latent_categories import RECONSTRUCTION_REDUCTIONS
from keras_lt.models.latent import POOL_NAME
from keras_lt.models.latent import add_latent_categories
from keras_lt.models.latent import latent_layer
from keras_lt.trainers.ingredient import Ingredient


@keras.saving.register_keras_serializable(package="keras_lt")
class LatentReconstruction(Ingredient):
    """Re-represents the features with latent categories and adds LCReg's reconstruction loss (eq. 4).

    The network then classifies the re-represented features, `classifier(GAP(f + f^))` (fusion
    "residual", our reading; "replace" is `GAP(f^)`), where `f^` is the output of its
    `keras_lt.layers.LatentCategoryReconstruction` (named "latent_categories"). A network without
    one gets it (`keras_lt.models.latent.add_latent_categories`, M = `latent_categories`): the
    backbone is kept, the head re-created; `trainer.network` is then that model, an images -> logits
    model whose architecture config records M and the fusion, so `save_pretrained` /
    `from_pretrained` rebuild it.

    The term is `weight * L_recon`, `LatentCategoryReconstruction.reconstruction_loss(f, f^)` with
    its per-position terms averaged (`reduction="mean"`, our reading and the default) or summed
    (`"sum"`, eq. 4's literal `sum_j` over the HW positions). With `LatentISDA` and a `Mixup` mixer
    this is LCReg's stage 1 (the `lcreg` method); its stage 2 is MiSLAS'.

    Logs per epoch `cls_loss` (the classification term it is weighed against), `recon_loss`, and
    how much the latent branch moves the logits: the spread across the batch (standard deviation
    over the images, averaged over the classes) of `classifier(GAP(f^))`, `latent_logit_spread`,
    and of `classifier(GAP(f))`, `feature_logit_spread`. A latent spread far below the feature
    spread means `f^` acts as a near-constant bias.

    Args:
        latent_categories: M (LCReg: 40 for CIFAR-10, 50 for CIFAR-100); None when the network
            already has a latent category layer.
        fusion: "residual" or "replace" (used when the layer is added).
        weight: weight of `L_recon` (beta of eq. 7, 0.1).
        reduction: "mean" or "sum" over the positions.

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(100), mixer=Mixup(),
    ...                      regularizers=[LatentReconstruction(50), LatentISDA()])
    """

    name = "latent_reconstruction"
    needs_features = True

    def __init__(self, latent_categories=None, fusion="residual", weight=0.1, reduction="mean"):
        if reduction not in RECONSTRUCTION_REDUCTIONS:
            raise KerasLTError(f"reduction must be one of {', '.join(RECONSTRUCTION_REDUCTIONS)}, got '{reduction}'.")
        self.latent_categories = latent_categories
        self.fusion = fusion
        self.weight = float(weight)
        self.reduction = reduction
        self.layer = None  # the network's latent category layer, once prepared

    def prepare(self, network):
        layer = latent_layer(network)
        if layer is None:
            if self.latent_categories is None:
                raise KerasLTError("LCReg needs latent_categories (M) for a network without latent categories.")
            network = add_latent_categories(network, self.latent_categories, self.fusion)
        elif self.latent_categories is not None and int(self.latent_categories) != layer.num_latents:
            raise KerasLTError(
                f"the network has {layer.num_latents} latent categories, latent_categories asks {self.latent_categories}."
            )
        self.layer = latent_layer(network)
        return network

    def build(self, trainer):
        # Untracked (a layer of the network), at the path where backups keep the layer's variables.
        object.__setattr__(trainer, "latent", self.layer)
        trainer.cls_tracker = keras.metrics.Mean(name="cls_loss")
        trainer.recon_tracker = keras.metrics.Mean(name="recon_loss")
        trainer.latent_spread_tracker = keras.metrics.Mean(name="latent_logit_spread")
        trainer.feature_spread_tracker = keras.metrics.Mean(name="feature_logit_spread")

    def loss(self, trainer, x, y, logits, outputs):
        features, reconstruction = outputs["features"], outputs["reconstruction"]
        recon = self.layer.reconstruction_loss(features, reconstruction, self.reduction)
        if len(y):  # a rank's empty shard of a multi-process batch has no mean or spread to log (NaN)
            with torch.no_grad():
                trainer.latent_spread_tracker.update_state(logit_spread(trainer.network, reconstruction.detach()))
                trainer.feature_spread_tracker.update_state(logit_spread(trainer.network, features.detach()))
            trainer.cls_tracker.update_state(outputs["classification"].detach())
            trainer.recon_tracker.update_state(recon.detach())
        return self.weight * recon

    def get_config(self):
        return {
            "latent_categories": self.latent_categories, "fusion": self.fusion, "weight": self.weight,
            "reduction": self.reduction,
        }


def logit_spread(network, feature_map):
    """`mean_c std_batch classifier(GAP(feature_map))_c`: how much these logits of `network` vary across the batch."""
    pooled = network.get_layer(POOL_NAME)(feature_map)
    logits = network.get_layer("classifier")(pooled)
    return keras.ops.mean(keras.ops.std(logits, axis=0))
