"""The base trainer: empirical risk minimisation with a pluggable loss and a torch train step."""

import keras
import numpy as np
import torch

from keras_lt import distributed
from keras_lt.callbacks.step_key import StepKey
from keras_lt.data.batches import TrainingBatches
from keras_lt.data.batches import training_device
from keras_lt.errors import KerasLTError
from keras_lt.models.direct_call import direct_call


@keras.saving.register_keras_serializable(package="keras_lt")
class ERMTrainer(keras.Model):
    """A `keras.Model` that trains a network with a custom torch `train_step`.

    The trainer wraps the network it trains (`trainer.network` is what gets published). Compile it
    with a loss from `keras_lt.losses` and `keras_lt.trainers.SGD`, then `fit` it on
    `keras_lt.data.DeviceBatches` with an `EpochSeeder` and `shuffle=False` (the batches draw each
    epoch's order; Keras' shuffle would reorder them from Python's global `random`, which a resumed
    run does not replay). Methods subclass it and override `training_loss(x, y, sample_weight)`,
    which returns the scalar to minimise and the logits the metrics see; the step itself (zero
    grad, backward, optimizer update, metrics) stays here.

    Trainers that draw randomness inside their step (mixup, CP-Mix, CMO, AFR) take it from
    `step_generators(stream)`, keyed by `(seed, epoch, step, stream)` through the `StepKey` callback
    of `epoch_callbacks()`, so a resumed run draws what an uninterrupted one does. Trainers that
    need the training set itself (partner or foreground images) set `needs_training_set` and are
    fitted on `keras_lt.data.TrainingBatches` (`DeviceBatches` or `StreamingBatches`), kept as
    `self.batches`; they draw those images with `self.batches.images_at`.

    Multi-process runs (`keras_lt.distributed`, under `torchrun`): `backward(loss, batch_size)`
    weights each rank's loss by its share of the global batch, all-reduces the gradients and gives
    every rank rank 0's BatchNorm running statistics (unless they are synchronised, SyncBatchNorm),
    so all ranks hold the same weights; the in-step draws are keyed by the rank too, so ranks
    draw different partners, permutations and boxes for their shards.

    Method state that must survive a checkpoint (a confusion matrix, covariances, a stage) is a
    non-trainable variable of the trainer, so `BackupAndRestore` and `--resume` carry it.

    Args:
        network: a `keras.Model` mapping images (0..255, NHWC) to logits.
        **kwargs: forwarded to `keras.Model`.

    Example:
    >>> trainer = ERMTrainer(keras_lt.models.resnet32(10))
    >>> trainer.compile(optimizer=SGD(0.1, weight_decay=2e-4), loss=BalancedSoftmax(counts),
    ...                 metrics=["accuracy"])
    >>> batches = DeviceBatches(images, labels, 10)
    >>> trainer.fit(batches, epochs=30, callbacks=[EpochSeeder(batches)], shuffle=False)
    """

    needs_training_set = None  # why `fit` must get DeviceBatches (partner images, ...); None if it need not

    def __init__(self, network, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.batches = None  # the DeviceBatches being fitted, if they are
        self.step_key = None  # (epoch, step), set by StepKey before every step

    def fit(self, x=None, *args, **kwargs):
        if isinstance(x, TrainingBatches):
            self.batches = x
        elif self.needs_training_set:
            raise KerasLTError(
                f"{self.needs_training_set}: fit it on keras_lt.data batches (DeviceBatches or StreamingBatches)."
            )
        return super().fit(x, *args, **kwargs)

    def call(self, inputs, training=False):
        return direct_call(self.network, inputs, training=training)

    def training_loss(self, x, y, sample_weight=None):
        """Returns `(loss, logits)` for one batch; subclasses add their regularisers here.

        `sample_weight` is the batch's per-sample weight (`fit`'s `class_weight` or weighted data),
        None when there is none.
        """
        logits = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight, training=True)
        return loss, logits

    def step_generators(self, stream, seed=None):
        """`(torch.Generator, numpy Generator)` of the current step's draws, keyed by `(seed, epoch, step, stream)`.

        `stream` separates the draws of different parts of a step (and from the batches' own
        `(epoch,)` and `(epoch, batch)` keys); `seed` defaults to the seed of the batches being
        fitted (0 without them). NumPy serves the draws torch cannot take a generator for (its Beta
        sampler). In a multi-process run the rank ends the key, so each rank draws its own.

        Example:
        >>> generator, rng = self.step_generators(STREAM)
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
        """Callbacks that drive this trainer's epoch-dependent state (stages, windows, ramps).

        `keras_lt.training` adds them to `fit`; state must be recomputed from the epoch number so
        that `--resume` restores it. Every trainer gets the `StepKey` that `step_generators` reads;
        subclasses add theirs after it.
        """
        return [StepKey(self)]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        loss, logits = self.training_loss(x, y, sample_weight)
        self.backward(loss, x.shape[0])
        variables = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([v.value.grad for v in variables], variables)
        # Metrics see detached tensors: they must not keep the step's autograd graph alive.
        self._loss_tracker.update_state(loss.detach(), sample_weight=x.shape[0])
        return self.compute_metrics(x, y, logits.detach(), sample_weight)

    def backward(self, loss, batch_size):
        """`loss.backward()`; in a multi-process run, the gradients of the global batch on every rank.

        There the loss is weighted by this rank's share of the global batch
        (`keras_lt.distributed.batch_weight`, `batch_size` being this rank's images), the gradients
        are averaged over the ranks (`synchronize_gradients`), and the running statistics of
        BatchNorm layers in training mode that are not synchronised follow rank 0's, as
        `DistributedDataParallel(broadcast_buffers=True)`: every rank then holds the state rank 0
        saves, so a resumed run continues from what every rank had.
        """
        if not distributed.is_distributed():
            loss.backward()
            return
        (loss * distributed.batch_weight(batch_size, loss.device)).backward()
        distributed.synchronize_gradients(self.trainable_weights)
        buffers = [
            variable
            for layer in self.network._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
            and not getattr(layer, "synchronized", False)
            for variable in (layer.moving_mean, layer.moving_variance)
        ]
        distributed.broadcast_variables(buffers)

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network)}

    @classmethod
    def from_config(cls, config):
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
