"""LCReg's latent ISDA (implicit semantic data augmentation of the latent categories) as a regulariser."""

import keras
import torch

from keras_lt.callbacks.isda_ramp import ISDARamp
from keras_lt.distributed import all_gather
from keras_lt.errors import KerasLTError
from keras_lt.losses.isda import ISDACovariance
from keras_lt.losses.isda import isda_loss
from keras_lt.models.latent import latent_layer
from keras_lt.trainers.ingredient import Ingredient


@keras.saving.register_keras_serializable(package="keras_lt")
class LatentISDA(Ingredient):
    """LCReg's `L_latent_aug` (eq. 5-6): the ISDA surrogate of the latent classifier on the latent categories.

    The term is `weight * isda_loss(h(g(P_m)), m, Sigma_m, lam)`: the latent classifier h of the
    network's `keras_lt.layers.LatentCategoryReconstruction` on the projected latents `g(P_m)`,
    target m, with `Sigma_m` the covariance of the spatial features `f(a, b)` (of the trained
    images, detached) assigned to latent m by `argmax_m S^_m(a, b)`, estimated online over the
    whole run (`ISDACovariance`, updated with the step's features before the loss, as ISDA does;
    in a multi-process run with every rank's features, gathered, so the statistics are those of
    the global batch on every rank). `lam = lam0 * t / T` with t the 0-based iteration and T the
    run's iterations, set before every step by the `ISDARamp` callback of `epoch_callbacks`.

    The covariance state is a non-trainable variable of the trainer (`trainer.estimator`), so
    backups and `--resume` carry it; the published network does not hold it. Needs the latent
    category layer: put `LatentReconstruction` before it (or train a network that has one). Logs
    `latent_aug_loss` and `isda_lambda` per epoch.

    Args:
        lam0: ISDA's final augmentation strength (0.5).
        weight: weight of `L_latent_aug` (alpha of eq. 7, 0.1).

    Example:
    >>> trainer = ERMTrainer(network, regularizers=[LatentReconstruction(40), LatentISDA(lam0=0.5)])
    """

    name = "latent_isda"
    needs_features = True

    def __init__(self, lam0=0.5, weight=0.1):
        self.lam0 = float(lam0)
        self.weight = float(weight)
        self.isda_lambda = 0.0  # set by ISDARamp before every step
        self.layer = None
        self.estimator = None

    def prepare(self, network):
        self.layer = latent_layer(network)
        if self.layer is None:
            raise KerasLTError("latent ISDA needs latent categories: put latent_reconstruction before it.")
        return network

    def build(self, trainer):
        dim = int(self.layer.input.shape[self.layer.channel_axis])
        trainer.estimator = self.estimator = ISDACovariance(self.layer.num_latents, dim, name="latent_covariance")
        trainer.aug_tracker = keras.metrics.Mean(name="latent_aug_loss")

    def epoch_callbacks(self, trainer):
        return [ISDARamp(self)]

    def latent_aug_loss(self):
        """The latent ISDA loss with the current covariance estimate and `isda_lambda`."""
        layer = self.layer
        weight = keras.ops.transpose(layer.latent_kernel)  # (M, D): row m is h's weight of latent m
        # labels None: the latent sample m is of latent category m.
        return isda_loss(layer.latent_logits(), None, weight, self.estimator.covariance, self.isda_lambda)

    def loss(self, trainer, x, y, logits, outputs):
        layer = self.layer
        with torch.no_grad():
            flat = layer._channels_last(outputs["features"].detach())
            # Every rank updates with the features of all ranks: the statistics of the global batch.
            features_all = all_gather(flat.reshape(-1, flat.shape[-1]))
            self.estimator.update(features_all, all_gather(layer.assignment(outputs["weights"].detach()).reshape(-1)))
        aug = self.latent_aug_loss()
        trainer.aug_tracker.update_state(aug.detach())
        return self.weight * aug

    def get_config(self):
        return {"lam0": self.lam0, "weight": self.weight}
