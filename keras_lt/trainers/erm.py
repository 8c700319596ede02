"""The trainer: empirical risk minimisation with a pluggable loss, batch mixer and regularisers, and a torch train step."""

import keras
import numpy as np
import torch

from keras_lt import distributed
from keras_lt.callbacks.epoch_seeder import EpochSeeder
from keras_lt.callbacks.step_key import StepKey
from keras_lt.data.batches import TrainingBatches
from keras_lt.data.batches import training_device
from keras_lt.errors import KerasLTError
from keras_lt.models.direct_call import direct_call
from keras_lt.models.latent import training_view

MAPS = ("features", "reconstruction", "weights")  # the feature maps of a latent-category view, after the logits
MIXED = "mixed"  # the outputs' entry of a mixed step: (second labels, lam)


@keras.saving.register_keras_serializable(package="keras_lt")
class ERMTrainer(keras.Model):
    """A `keras.Model` that trains a network with a custom torch `train_step`: the one trainer of every method.

    The trainer wraps the network it trains (`trainer.network` is what gets published). Compile it
    with a loss from `keras_lt.losses` and `keras_lt.trainers.SGD`, then `fit` it on
    `keras_lt.data.DeviceBatches`: `fit` adds what such a fit needs and its callbacks lack, first,
    an `EpochSeeder` (each epoch draws its own order and augmentation) and `epoch_callbacks()`
    (the ingredients' switches), and defaults to `shuffle=False` (the batches draw each epoch's
    order; Keras' shuffle would reorder them from Python's global `random`, which a resumed run
    does not replay).

    A method is a choice of ingredients (`keras_lt.trainers.Ingredient`): at most one batch
    `mixer` (`Mixup`, `CMO`), which gives the images the network sees and the two labels they are
    scored against (`lam L(y) + (1 - lam) L(y_partner)`, or `L(y)` on the batch as it is), and any
    `regularizers` (`ConfusionPairMixing`, `LatentReconstruction`, `LatentISDA`), each adding a
    term. Every step minimises

        loss_weight * L_cls + sum of the regularisers' terms

    with one forward pass (through the latent-category view of the network when a regulariser
    needs its feature maps). The step itself (zero grad, backward, optimizer update, metrics)
    stays here. The ingredients' state (CP-Mix's confusion counts, ISDA's covariances) lives on the
    trainer as non-trainable variables, so `keras_lt.callbacks.Backup` and `--resume` carry it.

    Ingredients that draw randomness inside the step take it from `step_generators(stream)`, keyed
    by `(seed, epoch, step, stream)` through the `StepKey` callback of `epoch_callbacks()`, so a
    resumed run draws what an uninterrupted one does. Ingredients that need the training set itself
    (partner or foreground images) require `keras_lt.data.TrainingBatches` (`DeviceBatches` or
    `StreamingBatches`), kept as `self.batches`; they draw those images with `self.batches.images_at`.

    Multi-process runs (`keras_lt.distributed`, under `torchrun`): `backward(loss, batch_size)`
    weights each rank's loss by its share of the global batch, all-reduces the gradients and gives
    every rank rank 0's BatchNorm running statistics (unless they are synchronised, SyncBatchNorm),
    so all ranks hold the same weights; the in-step draws are keyed by the rank too, so ranks
    draw different partners, permutations and boxes for their shards.

    Args:
        network: a `keras.Model` mapping images (0..255, NHWC) to logits.
        mixer: a batch mixer ingredient, or None (the batch as it is).
        regularizers: regulariser ingredients, applied in this order.
        loss_weight: weight of the classification loss (LCReg's gamma).
        **kwargs: forwarded to `keras.Model`.

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(10, classifier="cosine"),
    ...                      regularizers=[ConfusionPairMixing(start_epoch=200)])
    >>> trainer.compile(optimizer=SGD(0.1, weight_decay=2e-4), loss=KPSLoss(counts),
    ...                 metrics=["accuracy"])
    >>> batches = DeviceBatches(images, labels, 10)
    >>> trainer.fit(batches, epochs=300)  # + EpochSeeder(batches), *trainer.epoch_callbacks(), shuffle=False
    """

    def __init__(self, network, mixer=None, regularizers=(), loss_weight=1.0, **kwargs):
        ingredients = [*([mixer] if mixer is not None else []), *regularizers]
        for ingredient in ingredients:
            network = ingredient.prepare(network)
        super().__init__(**kwargs)
        self.network = network
        self.batches = None  # the DeviceBatches being fitted, if they are
        self.step_key = None  # (epoch, step), set by StepKey before every step
        self.mixer = mixer
        self.regularizers = tuple(regularizers)
        self.loss_weight = float(loss_weight)
        # Not tracked (it shares the network's layers and variables): set past Layer.__setattr__.
        view = training_view(network) if any(i.needs_features for i in ingredients) else None
        object.__setattr__(self, "_view", view)
        for ingredient in ingredients:
            ingredient.build(self)

    @property
    def ingredients(self):
        """The mixer (if any), then the regularisers."""
        return (*([self.mixer] if self.mixer is not None else []), *self.regularizers)

    @property
    def needs_training_set(self):
        """Why `fit` must get `keras_lt.data` batches (an ingredient draws training images); None if it need not."""
        return next((i.needs_training_set for i in self.ingredients if i.needs_training_set), None)

    def fit(self, x=None, *args, **kwargs):
        self._check_loss()
        if isinstance(x, TrainingBatches):
            self.batches = x
            kwargs["callbacks"] = self._epoch_callbacks_for(x, kwargs.get("callbacks"))
            kwargs.setdefault("shuffle", False)
        elif self.needs_training_set:
            raise KerasLTError(
                f"{self.needs_training_set}: fit it on keras_lt.data batches (DeviceBatches or StreamingBatches)."
            )
        return super().fit(x, *args, **kwargs)

    def _check_loss(self):
        """One `KerasLTError` line unless the compiled loss fits the network: its classes, its classifier.

        A class-profile loss (Balanced Softmax, LDAM, ...) of another class count than the network's
        outputs failed in torch's shape error; one defined on cosines (LDAM, KPS) trained a keras-lt
        linear classifier silently at a loss of hundreds.
        """
        from keras_lt.losses import KPSLoss
        from keras_lt.losses import LDAM

        counts, shape = getattr(self.loss, "class_counts", None), self.network.output_shape
        outputs = shape[-1] if isinstance(shape, tuple) else None  # one output: the logits
        if counts is not None and outputs is not None and len(counts) != outputs:
            raise KerasLTError(
                f"the {self.loss.name} loss is built on {len(counts)} class counts and the network has {outputs} "
                "outputs; build the loss on the training set's counts, one per class."
            )
        names = {layer.name: layer for layer in self.network.layers}
        if isinstance(self.loss, (LDAM, KPSLoss)) and isinstance(names.get("classifier"), keras.layers.Dense):
            raise KerasLTError(
                f"the {self.loss.name} loss is defined on a cosine classifier's cosines, and this network's classifier "
                "is linear; build it with classifier=\"cosine\" (e.g. keras_lt.models.resnet32(10, classifier=\"cosine\"))."
            )

    def _epoch_callbacks_for(self, batches, callbacks):
        """`callbacks` after what a fit on `batches` needs and they lack: its `EpochSeeder`, the `epoch_callbacks()`.

        The trainer's are missing when no `StepKey` is among `callbacks` (`epoch_callbacks()` starts
        with one). Both go first, so a `CSVLogger` after them writes the columns they log.
        """
        callbacks = list(callbacks or [])
        missing = [] if any(isinstance(c, EpochSeeder) for c in callbacks) else [EpochSeeder(batches)]
        if not any(isinstance(c, StepKey) for c in callbacks):
            missing += self.epoch_callbacks()
        return [*missing, *callbacks]

    def call(self, inputs, training=False):
        return direct_call(self.network, inputs, training=training)

    def training_loss(self, x, y, sample_weight=None):
        """Returns `(loss, logits)` for one batch: the mixer's batch, its classification loss, the regularisers.

        `sample_weight` is the batch's per-sample weight (`fit`'s `class_weight` or weighted data),
        None when there is none; it weights the classification loss. The regularisers see
        `outputs`: the classification loss ("classification"), with a latent-category view the
        feature maps (`MAPS`), and when the mixer mixed the step `(second_labels, lam)` (`MIXED`;
        `lam` is the `(B,)` weight of the first labels, `y`; `logits` are then the mixed images').
        """
        mixed = None if self.mixer is None else self.mixer.mix(self, x, y)
        images = x if mixed is None else mixed[0]
        outputs = {}
        if self._view is None:
            logits = self(images, training=True)
        else:
            logits, *maps = direct_call(self._view, images, training=True)
            outputs.update(zip(MAPS, maps))
        if mixed is None:
            loss = self.compute_loss(x=images, y=y, y_pred=logits, sample_weight=sample_weight, training=True)
        else:
            loss = self.two_label_loss(logits, y, mixed[1], mixed[2], sample_weight)
            outputs[MIXED] = mixed[1:]
        outputs["classification"] = loss
        loss = self.loss_weight * loss
        for regularizer in self.regularizers:
            term = regularizer.loss(self, x, y, logits, outputs)
            if term is not None:
                loss = loss + term
        return loss, logits

    def step_generators(self, stream, seed=None):
        """`(torch.Generator, numpy Generator)` of the current step's draws, keyed by `(seed, epoch, step, stream)`.

        `stream` separates the draws of different parts of a step (`keras_lt.random_keys`, which lays
        out every key of a run); `seed` defaults to the seed of the batches being
        fitted (0 without them). NumPy serves the draws torch cannot take a generator for (its Beta
        sampler). In a multi-process run the rank ends the key, so each rank draws its own.

        Example:
        >>> generator, rng = self.step_generators(CMO_STREAM)
        >>> lam = rng.beta(1.0, 1.0)
        >>> permutation = torch.randperm(len(y), device=y.device, generator=generator)
        """
        if self.step_key is None:
            raise KerasLTError(
                f"{type(self).__name__} keys its random draws by (epoch, step): fit it with the trainer's "
                "epoch_callbacks() (keras_lt.callbacks.StepKey)."
            )
        if seed is None:
            seed = self.batches.seed if self.batches is not None else 0
        key = (*self.step_key, stream) + ((distributed.rank(),) if distributed.is_distributed() else ())
        torch_sequence, numpy_sequence = np.random.SeedSequence(seed, spawn_key=key).spawn(2)
        generator = torch.Generator(device=self.batches.device if self.batches is not None else training_device())
        generator.manual_seed(int(torch_sequence.generate_state(1)[0]))
        return generator, np.random.default_rng(numpy_sequence)

    def two_label_loss(self, logits, y_first, y_second, lam, sample_weight=None):
        """`mean_i lam_i L(y_first,i) + (1 - lam_i) L(y_second,i)` with the compiled loss `L` (mixup, CutMix).

        `lam` is a `(B,)` tensor; a per-sample weight multiplies both terms. Each term is the
        compiled loss with a per-sample weight (`reduction="sum_over_batch_size"` divides by the
        batch size, so a constant `lam` gives exactly `lam * L(y_first) + (1 - lam) * L(y_second)`).
        """
        weight = torch.ones_like(lam) if sample_weight is None else torch.as_tensor(sample_weight, device=lam.device)
        first = self.compute_loss(y=y_first, y_pred=logits, sample_weight=lam * weight, training=True)
        return first + self.compute_loss(y=y_second, y_pred=logits, sample_weight=(1.0 - lam) * weight, training=True)

    def epoch_callbacks(self):
        """Callbacks that drive this trainer's epoch-dependent state: `StepKey`, then the ingredients' switches and ramps.

        `keras_lt.training` adds them to `fit`; state must be recomputed from the epoch number so
        that `--resume` restores it. Every trainer gets the `StepKey` that `step_generators` reads.
        """
        return [StepKey(self), *(c for i in self.ingredients for c in i.epoch_callbacks(self))]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        loss, logits = self.training_loss(x, y, sample_weight)
        self.backward(loss, x.shape[0])
        with torch.no_grad():
            self.apply_gradients(self.trainable_weights)
        # Metrics see detached tensors: they must not keep the step's autograd graph alive.
        if x.shape[0]:  # an empty shard's loss is no number (Keras' empty vector of per-image losses)
            self._loss_tracker.update_state(loss.detach(), sample_weight=x.shape[0])
        return self.compute_metrics(x, y, logits.detach(), sample_weight)

    def apply_gradients(self, variables):
        """One optimizer step on the trainable `variables` from their gradients (`.grad`), without autograd.

        A trainer with several optimizers (`MiSLASRetrainer`) splits the variables among them here.
        """
        self.optimizer.apply([v.value.grad for v in variables], variables)

    def backward(self, loss, batch_size):
        """`loss.backward()`; in a multi-process run, the gradients of the global batch on every rank.

        There the loss is weighted by this rank's share of the global batch
        (`keras_lt.distributed.batch_weight`, `batch_size` being this rank's images), the gradients
        are averaged over the ranks (`synchronize_gradients`), and the running statistics of
        BatchNorm layers in training mode that are not synchronised follow rank 0's, as
        `DistributedDataParallel(broadcast_buffers=True)`: every rank then holds the state rank 0
        saves, so a resumed run continues from what every rank had.

        A rank whose share is empty (a last batch of fewer images than ranks) still runs the step:
        its backward gives zero gradients, through the collectives of SyncBatchNorm's backward, and
        it takes part in the gradient all-reduce, so the gradient stays the global batch's mean.
        """
        if not distributed.is_distributed():
            loss.backward()
            return
        weight = distributed.batch_weight(batch_size, loss.device)  # a collective: an empty shard's rank too
        if batch_size:
            (loss * weight).backward()
        else:
            loss.backward(torch.zeros_like(loss))
        distributed.synchronize_gradients(self.trainable_weights)
        buffers = [
            variable
            for layer in self.network._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
            and not getattr(layer, "sync_statistics", False)
            for variable in (layer.moving_mean, layer.moving_variance)
        ]
        distributed.broadcast_variables(buffers)

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "network": serialize(self.network),
            "mixer": None if self.mixer is None else serialize(self.mixer),
            "regularizers": [serialize(r) for r in self.regularizers],
            "loss_weight": self.loss_weight,
        }

    @classmethod
    def from_config(cls, config):
        deserialize = keras.saving.deserialize_keras_object
        config["network"] = deserialize(config["network"])
        config["mixer"] = None if config.get("mixer") is None else deserialize(config["mixer"])
        config["regularizers"] = [deserialize(r) for r in config.get("regularizers", [])]
        return cls(**config)
