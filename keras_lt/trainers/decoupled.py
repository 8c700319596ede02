"""Decoupled classifier re-training (Kang et al., ICLR 2020): cRT, LWS and tau-normalisation.

Stage 2 of the decoupling recipe, for any trained keras-lt model: the backbone is kept as it is
and only the classifier is re-balanced.

- cRT: the classifier (and a logit scale, if the model has one) is re-initialised and re-trained.
- LWS: the whole model is frozen; a learnable per-class logit scale (init 1) is appended and trained.
- tau-norm: no training; each class's weight vector becomes `w_j / ||w_j|| ** tau`, bias dropped.

Defaults, from Kang et al.'s code (facebookresearch/classifier-balancing,
`config/ImageNet_LT/cls_crt.yaml`, `cls_lws.yaml`, `tau_norm.py`):
- cRT 10 epochs (also METHODS.md), LWS 5 epochs; METHODS.md's short30 runs them for 3.
- CE; SGD momentum 0.9, weight decay 5e-4 on the trained variables only; cosine lr to 0.
- lr 0.2 at batch 512 there; 0.05 at batch 128 here (linear scaling: our reading).
- Class-balanced sampling, N draws per epoch (their `ClassAwareSampler`, N / batch steps per
  epoch), with the stage-1 augmentation (pad + crop + flip).
- tau-norm: logits `features @ W_tau` without the bias (`tau_norm.py`); tau = 1 by default here,
  theirs is chosen on a validation set.
Where we differ, on purpose: the cosine decays per step (theirs per epoch), classes are drawn
with replacement (theirs cycles through them), and BatchNorm statistics stay frozen (their
feature model stays in train mode, so its running statistics follow the class-balanced batches).
"""

import keras

from keras_lt import losses
from keras_lt.data.batch_choice import training_batches
from keras_lt.errors import KerasLTError
from keras_lt.layers import NormedLinear
from keras_lt.models import rebuild
from keras_lt.models.tau_norm import tau_normalize
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.sgd import SGD
from keras_lt.trainers.stage2 import check_stage2_data
from keras_lt.trainers.stage2 import stage2_callbacks

METHODS = ("crt", "lws", "tau-norm")
DEFAULT_EPOCHS = {"crt": 10, "lws": 5}
HEAD_LAYERS = ("classifier", "logit_scale")


@keras.saving.register_keras_serializable(package="keras_lt")
class ClassifierRetrainer(ERMTrainer):
    """An `ERMTrainer` that trains only the named layers of the network (its classifier head).

    Every other layer is frozen (`trainable = False`). A frozen BatchNorm normalises with its
    running statistics and leaves them alone, so the backbone is a fixed function and its weights
    stay bit-identical. `fit_head` fits the head and then makes the network fully trainable again.

    Args:
        network: a `keras.Model` mapping images to logits.
        trainable_layers: names of the layers to train.
        **kwargs: forwarded to `ERMTrainer`.

    Example:
    >>> trainer = ClassifierRetrainer(network, ["classifier"])
    >>> trainer.compile(optimizer=SGD(CosineToZero(0.05, 10 * len(batches))), loss=ce)
    >>> trainer.fit_head(batches, 10)
    """

    def __init__(self, network, trainable_layers=("classifier",), **kwargs):
        super().__init__(network, **kwargs)
        self.trainable_layers = tuple(trainable_layers)
        missing = set(self.trainable_layers) - {layer.name for layer in network.layers}
        if missing:
            raise KerasLTError(
                f"the model has no layer {', '.join(sorted(missing))} to train; build it with keras_lt.models, "
                "whose heads name their classifier 'classifier' (and 'logit_scale', with logit_scale=True)."
            )
        for layer in network.layers:
            layer.trainable = layer.name in self.trainable_layers

    def fit_head(self, batches, epochs, callbacks=(), verbose="auto", output_dir=None):
        """Fits the head on `batches` with the stage-2 callbacks, then `release`s the network, even if the fit stops.

        Args:
            batches: the `keras_lt.data` batches to fit.
            epochs: training epochs.
            callbacks: extra Keras callbacks (`keras_lt.trainers.stage2_callbacks` adds the stage-2 ones).
            verbose: Keras' fit verbosity.
            output_dir: a run directory for a per-epoch backup, or None.

        Example:
        >>> trainer.fit_head(batches, 10, [keras.callbacks.CSVLogger("crt.csv")], output_dir="runs/crt")
        """
        try:
            self.fit(
                batches, epochs=epochs, shuffle=False, verbose=verbose,
                callbacks=stage2_callbacks(batches, callbacks, output_dir),
            )
        finally:
            self.release()

    def release(self):
        """Makes every layer and variable of the network trainable again (as `from_pretrained` gives)."""
        for layer in self.network.layers:
            layer.trainable = True

    def get_config(self):
        return {**super().get_config(), "trainable_layers": list(self.trainable_layers)}


def decouple(
    network,
    method,
    images=None,
    labels=None,
    epochs=None,
    lr=0.05,
    batch_size=128,
    momentum=0.9,
    weight_decay=5e-4,
    tau=1.0,
    seed=0,
    callbacks=(),
    verbose="auto",
    output_dir=None,
):
    """Stage 2 of decoupled training: a new model with a re-balanced classifier.

    The input model is left untouched. The new one has the input's architecture (plus
    `logit_scale=True` for LWS), so `keras_lt.save_pretrained` / `from_pretrained` round-trip it.
    Its `keras_lt_config` keeps the input's class names, training counts and dataset, and records
    the stage-2 settings under "decoupling"; pass `recipe=` to `save_pretrained` to publish them.
    LWS on a model that already has a logit scale continues from it; cRT re-initialises it.

    A cosine classifier (NormedLinear) already normalises its weights, so tau-norm would change
    nothing and is refused; cRT re-initialises it (with the input's output scale: a published LDAM
    or KPS model's CE sees `s * cos`, `keras_lt.models.set_output_scale`).

    Args:
        network: a trained keras-lt model (as `keras_lt.from_pretrained` returns).
        method: "crt", "lws" or "tau-norm".
        images: uint8 `(N, H, W, C)` training images (cRT, LWS); the stage-1 training set.
        labels: their integer labels.
        epochs: training epochs; None for the method's default (cRT 10, LWS 5).
        lr: initial learning rate of the cosine schedule.
        batch_size: images per batch.
        momentum: SGD momentum.
        weight_decay: L2 coefficient on the trained variables (coupled, as torch's SGD).
        tau: the tau-norm exponent.
        seed: seed of the re-initialisation, the sampling and the augmentation.
        callbacks: extra Keras callbacks for the training stage (e.g. a `CSVLogger`).
        verbose: Keras' fit verbosity.
        output_dir: a run directory for a per-epoch backup (`keras_lt.trainers.stage2_callbacks`):
            called again with it after an interruption, the training continues exactly.

    Returns:
        The new `keras.Model`.

    Example:
    >>> model = keras_lt.from_pretrained("ce-resnet32-cifar10lt")
    >>> crt = decouple(model, "crt", images, labels, epochs=10)
    >>> normalised = decouple(model, "tau-norm", tau=1.0)
    """
    if method not in METHODS:
        raise KerasLTError(f"unknown decoupling method '{method}'; choose one of {', '.join(METHODS)}.")
    if method == "tau-norm":
        model = _tau_normalized(network, tau)
        settings = {"epochs": 0, "tau": tau}
    else:
        epochs = DEFAULT_EPOCHS[method] if epochs is None else epochs
        check_stage2_data(method, images, labels, epochs, network.output_shape[-1])
        keras.utils.set_random_seed(seed)
        if method == "crt":
            model = rebuild(network, fresh=HEAD_LAYERS)
            head = [layer.name for layer in model.layers if layer.name in HEAD_LAYERS]
        else:
            model = rebuild(network, logit_scale=True)
            head = ["logit_scale"]
        settings = dict(
            epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
            weight_decay=weight_decay, sampler="class_balanced", seed=seed,
        )
        train_head(model, head, images, labels, settings, callbacks, verbose, output_dir)
    model.keras_lt_config["decoupling"] = {"method": method, **settings}
    return model


def _tau_normalized(network, tau):
    """A copy of `network` whose Dense classifier is tau-normalised and has a zero bias."""
    classifier = next((layer for layer in network.layers if layer.name == "classifier"), None)
    if isinstance(classifier, NormedLinear):
        raise KerasLTError(
            "tau-norm is a no-op on a cosine classifier, which already normalises its weights; use crt or lws."
        )
    if not isinstance(classifier, keras.layers.Dense):
        raise KerasLTError(
            "tau-norm needs a linear (Dense) layer named 'classifier'; build the model with keras_lt.models."
        )
    model = rebuild(network)
    head = model.get_layer("classifier")
    head.kernel.assign(tau_normalize(head.kernel, tau))
    if head.use_bias:
        head.bias.assign(keras.ops.zeros_like(head.bias))
    return model


def train_head(model, head, images, labels, settings, callbacks, verbose, output_dir):
    """Trains the layers `head` of `model`, the rest frozen, with re-sampled batches, CE and a cosine lr.

    The stage 2 of cRT and LWS, and CP-Mix's fine-tune (`keras_lt.trainers.cpmix_finetune`). Afterwards,
    also after a stop, every layer of `model` is trainable again, as `from_pretrained` gives.

    Args:
        model: the network; modified in place.
        head: names of the layers to train.
        images: uint8 `(N, H, W, C)` training images.
        labels: their integer labels.
        settings: `batch_size`, `sampler`, `seed`, `lr`, `epochs`, `momentum`, `weight_decay`.
        callbacks: extra Keras callbacks of the fit (`stage2_callbacks` adds the stage-2 ones).
        verbose: Keras' fit verbosity.
        output_dir: where the fit logs its epochs, or None.

    Example:
    >>> train_head(model, ["classifier"], images, labels, settings, [], "auto", None)
    """
    batches = training_batches(
        images, labels, model.output_shape[-1], settings["batch_size"], sampler=settings["sampler"], seed=settings["seed"]
    )
    schedule = CosineToZero(settings["lr"], settings["epochs"] * len(batches))
    trainer = ClassifierRetrainer(model, head)
    trainer.compile(
        optimizer=SGD(schedule, momentum=settings["momentum"], weight_decay=settings["weight_decay"]),
        loss=losses.get("ce", batches.class_counts),
        metrics=["accuracy"],
    )
    trainer.fit_head(batches, settings["epochs"], callbacks, verbose, output_dir)
