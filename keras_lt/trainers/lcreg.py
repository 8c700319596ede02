"""LCReg (Liu et al., "Long-tailed recognition by learning from latent categories"): stage 1."""

import keras
import torch

from keras_lt.callbacks.isda_ramp import ISDARamp
from keras_lt.distributed import all_gather
from keras_lt.errors import KerasLTError
from keras_lt.layers.latent_categories import RECONSTRUCTION_REDUCTIONS
from keras_lt.losses.isda import ISDACovariance
from keras_lt.losses.isda import isda_loss
from keras_lt.models.direct_call import direct_call
from keras_lt.models.latent import POOL_NAME
from keras_lt.models.latent import add_latent_categories
from keras_lt.models.latent import latent_layer
from keras_lt.models.latent import training_view
from keras_lt.trainers.mixup import MixupTrainer


@keras.saving.register_keras_serializable(package="keras_lt")
class LCRegTrainer(MixupTrainer):
    """LCReg's stage 1: MiSLAS' mixup ERM on latent-category features, plus reconstruction and latent ISDA.

    The network classifies the re-represented features, `classifier(GAP(f + f^))` (fusion
    "residual", our reading; "replace" is `GAP(f^)`), where `f^` is the output of its
    `keras_lt.layers.LatentCategoryReconstruction` (named "latent_categories"). A network without
    one gets it (`keras_lt.models.latent.add_latent_categories`, M = `latent_categories`): the
    backbone is kept, the head re-created; `trainer.network` is then that model, an images -> logits
    model whose architecture config records M and the fusion, so `save_pretrained` /
    `from_pretrained` rebuild it. Every step minimises (METHODS.md, eq. 7)

        L = aug_weight * L_latent_aug + recon_weight * L_recon + cls_weight * L_cls   (0.1, 0.1, 1)

    - `L_cls`: the compiled loss on the mixup batch (`MixupTrainer`; MiSLAS stage 1).
    - `L_recon`: eq. 4, `LatentCategoryReconstruction.reconstruction_loss(f, f^)`, its per-position
      terms averaged (`recon_reduction="mean"`, our reading and the default) or summed (`"sum"`,
      eq. 4's literal `sum_j` over the HW positions: HW times larger, 64 on CIFAR's 8 x 8 maps).
    - `L_latent_aug`: the ISDA surrogate (`keras_lt.losses.isda_loss`) of the latent classifier h on
      the projected latents `g(P_m)`, target m, with `Sigma_m` the covariance of the spatial
      features `f(a, b)` (of the mixed images, detached) assigned to latent m by `argmax_m S^_m(a, b)`,
      estimated online over the whole run (`ISDACovariance`, updated with the step's features before
      the loss, as ISDA does; in a multi-process run with every rank's features, gathered, so the
      statistics are those of the global batch on every rank). `lam = lam0 * t / T` with t the 0-based iteration and T the run's
      iterations (the paper's "T indicates the total iteration"), set before every step by the
      `ISDARamp` callback of `epoch_callbacks()`.

    One forward pass gives logits, `f`, `f^` and `S^` (a view of the network with four outputs,
    sharing its layers). The covariance state is a non-trainable variable of the trainer
    (`estimator`), so `BackupAndRestore` and `--resume` carry it; the published network does not
    hold it. Logs `cls_loss`, `recon_loss` and `latent_aug_loss` per epoch, and `isda_lambda`.

    How much the latent branch moves the logits: every step also measures the spread across the
    batch (the standard deviation over the images, averaged over the classes) of
    `classifier(GAP(f^))`, the latent branch's share of the logits, and of `classifier(GAP(f))`, the
    backbone's, logged per epoch as `latent_logit_spread` and `feature_logit_spread`. A latent spread
    far below the feature spread means `f^` acts as a near-constant bias (its softmax over sigmoid
    similarities keeps every weight within a factor e of the others).

    Stage 2 is MiSLAS' (`keras_lt.trainers.mislas`: frozen backbone and latent layer, class-balanced
    sampling, label-aware smoothing, classifier + LWS), as in the `lcreg-*` recipes.

    Args:
        network: a `keras.Model` mapping images to logits (a keras-lt model: its pooling layer is "pool").
        latent_categories: M (LCReg: 40 for CIFAR-10, 50 for CIFAR-100); None when the network
            already has a latent category layer.
        fusion: "residual" or "replace" (used when the layer is added).
        lam0: ISDA's final augmentation strength.
        aug_weight: weight of `L_latent_aug` (alpha of eq. 7).
        recon_weight: weight of `L_recon` (beta).
        cls_weight: weight of `L_cls` (gamma).
        recon_reduction: "mean" or "sum" over the positions in `L_recon`.
        alpha: mixup's Beta parameter.
        lam_per_sample: mixup `lam` per image instead of per batch.
        seed: seed of the mixing draws (None: the batches' seed).
        **kwargs: forwarded to `MixupTrainer`.

    Example:
    >>> trainer = LCRegTrainer(keras_lt.models.resnet32(100), latent_categories=50)
    >>> trainer.compile(optimizer=SGD(schedule, weight_decay=2e-4), loss=ce, metrics=["accuracy"])
    >>> trainer.fit(batches, epochs=200, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks()])
    >>> keras_lt.save_pretrained(trainer.network, "out/lcreg")
    """

    def __init__(
        self,
        network,
        latent_categories=None,
        fusion="residual",
        lam0=0.5,
        aug_weight=0.1,
        recon_weight=0.1,
        cls_weight=1.0,
        recon_reduction="mean",
        alpha=1.0,
        lam_per_sample=False,
        seed=None,
        **kwargs,
    ):
        layer = latent_layer(network)
        if layer is None:
            if latent_categories is None:
                raise KerasLTError("LCReg needs latent_categories (M) for a network without latent categories.")
            network = add_latent_categories(network, latent_categories, fusion)
            layer = latent_layer(network)
        elif latent_categories is not None and int(latent_categories) != layer.num_latents:
            raise KerasLTError(
                f"the network has {layer.num_latents} latent categories, latent_categories asks {latent_categories}."
            )
        if recon_reduction not in RECONSTRUCTION_REDUCTIONS:
            raise KerasLTError(
                f"recon_reduction must be one of {', '.join(RECONSTRUCTION_REDUCTIONS)}, got '{recon_reduction}'."
            )
        super().__init__(network, alpha=alpha, lam_per_sample=lam_per_sample, seed=seed, **kwargs)
        self.latent_categories = layer.num_latents
        architecture = (getattr(network, "keras_lt_config", None) or {}).get("architecture", {})
        self.fusion = architecture.get("fusion", fusion)
        self.lam0 = float(lam0)
        self.aug_weight = float(aug_weight)
        self.recon_weight = float(recon_weight)
        self.cls_weight = float(cls_weight)
        self.recon_reduction = recon_reduction
        self.isda_lambda = 0.0  # set by ISDARamp before every step
        dim = int(layer.input.shape[layer.channel_axis])
        self.estimator = ISDACovariance(layer.num_latents, dim, name="latent_covariance")
        # Not tracked (they share the network's layers and variables): set past Layer.__setattr__.
        object.__setattr__(self, "_latent", layer)
        object.__setattr__(self, "_view", training_view(network))
        self.cls_tracker = keras.metrics.Mean(name="cls_loss")
        self.recon_tracker = keras.metrics.Mean(name="recon_loss")
        self.aug_tracker = keras.metrics.Mean(name="latent_aug_loss")
        self.latent_spread_tracker = keras.metrics.Mean(name="latent_logit_spread")
        self.feature_spread_tracker = keras.metrics.Mean(name="feature_logit_spread")

    @property
    def latent(self):
        """The network's `LatentCategoryReconstruction` layer."""
        return self._latent

    def epoch_callbacks(self):
        return [*super().epoch_callbacks(), ISDARamp(self)]

    def latent_aug_loss(self):
        """The latent ISDA loss with the current covariance estimate and `isda_lambda`."""
        layer = self.latent
        targets = keras.ops.arange(layer.num_latents)
        weight = keras.ops.transpose(layer.latent_kernel)  # (M, D): row m is h's weight of latent m
        return isda_loss(layer.latent_logits(), targets, weight, self.estimator.covariance, self.isda_lambda)

    def logit_spread(self, feature_map):
        """`mean_c std_batch classifier(GAP(feature_map))_c`: how much these logits vary across the batch."""
        pooled = self.network.get_layer(POOL_NAME)(feature_map)
        logits = self.network.get_layer("classifier")(pooled)
        return keras.ops.mean(keras.ops.std(logits, axis=0))

    def training_loss(self, x, y, sample_weight=None):
        images, partner_labels, lam = self.mix_batch(x, y)
        logits, features, reconstruction, weights = direct_call(self._view, images, training=True)
        cls = self.two_label_loss(logits, y, partner_labels, lam, sample_weight)
        layer = self.latent
        recon = layer.reconstruction_loss(features, reconstruction, self.recon_reduction)
        with torch.no_grad():
            flat = layer._channels_last(features.detach())
            # Every rank updates with the features of all ranks: the statistics of the global batch.
            features_all = all_gather(flat.reshape(-1, flat.shape[-1]))
            self.estimator.update(features_all, all_gather(layer.assignment(weights.detach()).reshape(-1)))
            self.latent_spread_tracker.update_state(self.logit_spread(reconstruction.detach()))
            self.feature_spread_tracker.update_state(self.logit_spread(features.detach()))
        aug = self.latent_aug_loss()
        self.cls_tracker.update_state(cls.detach())
        self.recon_tracker.update_state(recon.detach())
        self.aug_tracker.update_state(aug.detach())
        return self.cls_weight * cls + self.recon_weight * recon + self.aug_weight * aug, logits

    def get_config(self):
        return {
            **super().get_config(),
            "latent_categories": self.latent_categories,
            "fusion": self.fusion,
            "lam0": self.lam0,
            "aug_weight": self.aug_weight,
            "recon_weight": self.recon_weight,
            "cls_weight": self.cls_weight,
            "recon_reduction": self.recon_reduction,
        }
