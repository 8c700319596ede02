"""CP-Mix (confusion-pairing mixup): ERM plus mixup between the classes the model confuses, then a fine-tune."""

import keras
import torch

from keras_lt.data.mixing import confusion_counts
from keras_lt.data.mixing import label_weight
from keras_lt.data.mixing import mix
from keras_lt.data.mixing import sample_confusion_pairs
from keras_lt.distributed import all_reduce_sum
from keras_lt.errors import KerasLTError
from keras_lt.models import rebuild
from keras_lt.trainers.decoupled import HEAD_LAYERS
from keras_lt.trainers.decoupled import _train_head
from keras_lt.trainers.erm import ERMTrainer

STREAM = 1  # last word of the (epoch, step, STREAM) random key: apart from DeviceBatches' keys


@keras.saving.register_keras_serializable(package="keras_lt")
class CPMixTrainer(ERMTrainer):
    """CP-Mix: counts the training confusions, and in stage 2 mixes confusion pairs and the batch.

    Every step adds the misclassified `(true, predicted argmax)` pairs of the augmented batch to
    `confusion` (`Q`, C x C float32 counts, exact up to 2**24 per cell; a non-trainable variable,
    so `BackupAndRestore` and `--resume` carry it), from the first epoch on; in a multi-process run
    each step adds the counts of every rank's shard (a sum all-reduce), so all ranks hold the Q of
    the global batches. Stage 1 minimises the
    compiled loss (Balanced Softmax in the recipes; any ERM loss works). Stage 2, switched on by
    `keras_lt.callbacks.CPMixStage`, minimises

        L = ERM(batch) + eta * (CE(CP-mixed batch) + CE(mixup of the batch with a permutation of itself))

    - CP-mixed batch (`mix_batch_size` pairs, B by default): anchor classes uniform over the classes
      (those with training images), partners drawn from the anchors' rows of `Q` (uniform over the other classes for an empty
      row), one training image of each drawn class uniformly, augmented as the batch is.
    - Both mixups: `lam ~ Beta(alpha, alpha)`, `x = lam x_i + (1 - lam) x_j` on the 0..255 images
      (before the model's normalisation), soft label `lam_y onehot(y_i) + (1 - lam_y) onehot(y_j)`
      with `lam_y = (1 - rho) lam + rho n_j / (n_i + n_j)`; `n` are the training counts; plain CE.

    A per-sample weight (`fit`'s `class_weight`) weights the ERM term only.

    Our reading of METHODS.md, with knobs: `lam` is drawn per pair (`lam_per_sample=False` draws one
    per mixed batch); the clean batch and the two mixed batches go through the network in three
    separate training-mode passes, so the ERM term is exactly stage 1's (each pass updates the
    BatchNorm statistics, as separate forward passes do in PyTorch).

    Randomness: the draws of step `s` of epoch `e` come from `step_generators`, keyed by
    `(seed of the batches, e, s, STREAM)` (torch for classes, images, augmentation and the
    permutation; NumPy for `lam`, as torch's Beta sampler takes no generator), so a resumed run
    draws what an uninterrupted one does. The `StepKey` callback of `epoch_callbacks()` sets the key
    before every step; `CPMixStage` switches the stage.

    `fit` must get a `keras_lt.data.DeviceBatches`: the partner images come from its training set.
    The classifier fine-tune that follows CP-Mix is `cpmix_finetune` (`"finetune": {"method":
    "cpmix"}` in the recipes).

    Args:
        network: a `keras.Model` mapping images (0..255, NHWC) to logits.
        alpha: the Beta distribution's parameter.
        rho: share of the count term in the label weight.
        eta: weight of the two mixup terms.
        mix_batch_size: number of confusion pairs per step; None for the batch size.
        lam_per_sample: one `lam` per pair (True) or per mixed batch (False).
        **kwargs: forwarded to `ERMTrainer`.

    Example:
    >>> trainer = CPMixTrainer(keras_lt.models.resnet32(100))
    >>> trainer.compile(optimizer=SGD(schedule), loss=BalancedSoftmax(counts), metrics=["accuracy"])
    >>> trainer.fit(batches, epochs=300, shuffle=False,
    ...             callbacks=[EpochSeeder(batches), *trainer.epoch_callbacks(), CPMixStage(trainer, 200)])
    >>> top_confusion_pairs(trainer.confusion, k=10)  # the most frequent training confusions
    """

    needs_training_set = "CP-Mix draws partner images from the training set"

    def __init__(self, network, alpha=1.0, rho=0.5, eta=1.0, mix_batch_size=None, lam_per_sample=True, **kwargs):
        super().__init__(network, **kwargs)
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}.")
        self.alpha = float(alpha)
        self.rho = float(rho)
        self.eta = float(eta)
        self.mix_batch_size = mix_batch_size
        self.lam_per_sample = bool(lam_per_sample)
        num_classes = network.output_shape[-1]
        self.confusion = self.add_weight(
            shape=(num_classes, num_classes), initializer="zeros", trainable=False, name="confusion"
        )
        self.stage2 = False  # set by CPMixStage


    @property
    def num_classes(self):
        return self.confusion.shape[0]

    def training_loss(self, x, y, sample_weight=None):
        loss, logits = super().training_loss(x, y, sample_weight)
        with torch.no_grad():
            self.confusion.assign_add(all_reduce_sum(confusion_counts(y, torch.argmax(logits, -1), self.num_classes)))
        if self.stage2:
            loss = loss + self.eta * self.mixing_loss(x, y)
        return loss, logits

    def mixing_loss(self, x, y):
        """`CE(CP-mixed batch) + CE(mixup of the batch)`, drawn from the current step's generators."""
        generator, rng = self.step_generators(STREAM)
        anchors, partners = sample_confusion_pairs(
            self.confusion.value, self.batches.class_sampler.class_counts, self.mix_batch_size or len(y), generator
        )
        images_i, images_j = self._images_of(anchors, generator), self._images_of(partners, generator)
        permutation = torch.randperm(len(y), device=y.device, generator=generator)
        return self._mixup_loss(images_i, images_j, anchors, partners, rng) + self._mixup_loss(
            x, x[permutation], y, y[permutation], rng
        )

    def _images_of(self, classes, generator):
        """One training image of each class in `classes`, augmented as the batches are."""
        return self.batches.images_at(self.batches.class_sampler.sample_classes(classes, generator), generator)

    def _mixup_loss(self, images_i, images_j, labels_i, labels_j, rng):
        """Soft-label CE of the network on the imbalance-aware mixup of two aligned batches."""
        size = len(labels_i)
        lam = rng.beta(self.alpha, self.alpha, size if self.lam_per_sample else 1)
        lam = torch.as_tensor(lam, dtype=torch.float32, device=labels_i.device).expand(size)
        counts = self.batches.class_sampler.class_counts
        lam_y = label_weight(lam, counts[labels_i], counts[labels_j], self.rho)
        images, soft_labels = mix(images_i, images_j, labels_i, labels_j, lam, lam_y, self.num_classes)
        logits = self(images, training=True)
        return keras.ops.mean(keras.ops.categorical_crossentropy(soft_labels, logits, from_logits=True))

    def get_config(self):
        return {
            **super().get_config(),
            "alpha": self.alpha,
            "rho": self.rho,
            "eta": self.eta,
            "mix_batch_size": self.mix_batch_size,
            "lam_per_sample": self.lam_per_sample,
        }


def cpmix_finetune(
    network,
    images=None,
    labels=None,
    epochs=10,
    lr=0.01,
    batch_size=128,
    momentum=0.9,
    weight_decay=2e-4,
    reinitialize=False,
    seed=0,
    callbacks=(),
    verbose="auto",
    output_dir=None,
):
    """CP-Mix's classifier fine-tune: a new model whose classifier is trained on class-balanced batches.

    The paper (papers/cpmix-confusion-pairing-mixup.txt, section 5 and appendix B.3): "We finetune
    the models using the class-balanced training dataset following the method proposed in [55]"
    ([55]: Trivedi et al. 2023, model adaptation by linear probing, not Kang et al.'s cRT), "with
    the backbone frozen"; its numbers (epochs, learning rates) are lost in the text. Our reading
    (METHODS.md): the trained classifier continues (not re-initialised), the backbone and its
    BatchNorm statistics stay frozen (inference mode), class-balanced sampling (N draws per epoch,
    with replacement) with the stage-1 augmentation (pad + crop + flip), CE, SGD momentum 0.9,
    weight decay 2e-4 on the classifier, lr 0.01 with a per-step cosine to 0, 10 epochs.
    `reinitialize=True` re-initialises the classifier first: cRT's start (Kang et al.), with these
    settings.

    The input model is left untouched; the new one has its architecture and weights, so
    `save_pretrained` / `from_pretrained` round-trip it. Its `keras_lt_config` records the settings
    under "cpmix_finetune". This is `STAGE2["cpmix"]`.

    Args:
        network: a trained keras-lt model (CP-Mix's stage 2).
        images: uint8 `(N, H, W, C)` training images (the training set of the network).
        labels: their integer labels.
        epochs: training epochs (10; short30: 3).
        lr: initial learning rate of the per-step cosine to 0.
        batch_size: images per batch.
        momentum: SGD momentum.
        weight_decay: coupled L2 on the classifier, as torch's SGD.
        reinitialize: re-initialise the classifier before training (cRT) instead of continuing it.
        seed: seed of the draws (and of the re-initialisation).
        callbacks: more Keras callbacks of the fine-tune's `fit`, e.g. a `CSVLogger`.
        verbose: the `fit` verbosity.
        output_dir: where the fine-tune keeps its per-epoch backup, so that a second call after an
            interruption continues it exactly (`keras_lt.trainers.stage2_callbacks`).

    Returns:
        The fine-tuned copy of `network`.

    Example:
    >>> model = cpmix_finetune(keras_lt.from_pretrained("runs/cpmix-stage1"), images, labels, epochs=10)
    """
    if images is None or labels is None:
        raise KerasLTError("CP-Mix's fine-tune trains the classifier: pass the training images and labels.")
    if epochs < 1:
        raise KerasLTError(f"CP-Mix's fine-tune needs at least 1 epoch, got {epochs}.")
    keras.utils.set_random_seed(seed)
    model = rebuild(network, fresh=HEAD_LAYERS if reinitialize else ())
    head = [layer.name for layer in model.layers if layer.name in HEAD_LAYERS]
    settings = dict(
        epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay,
        sampler="class_balanced", seed=seed,
    )
    _train_head(model, head, images, labels, settings, callbacks, verbose, output_dir)
    model.keras_lt_config["cpmix_finetune"] = {"reinitialize": bool(reinitialize), **settings}
    return model
