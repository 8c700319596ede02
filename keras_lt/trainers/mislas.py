"""MiSLAS stage 2 (Zhong et al., CVPR 2021): classifier + LWS with label-aware smoothing, shifted BN.

After a mixup stage 1 (the `keras_lt.trainers.Mixup` mixer, or LCReg's), the backbone is frozen and
the classifier is re-balanced:

- class-balanced sampling (N draws per epoch) with the stage-1 augmentation (pad + crop + flip);
- label-aware smoothing (`keras_lt.losses.LabelAwareSmoothing`, eps_head / eps_tail per dataset and
  imbalance factor, METHODS.md);
- the stage-1 classifier continues (not re-initialised) at `lr * lr_factor`, and a learnable
  per-class logit scale (LWS, `keras_lt.layers.LogitScale`, initialised to 1) at `lr`, both with a
  cosine to 0: two learning rates, as MiSLAS' two parameter groups (two SGD optimizers here);
- "shift learning" (`shift_bn`, CIFAR-100 in MiSLAS): the backbone's BatchNorm layers run in
  training mode, normalising with the class-balanced batches' statistics and updating their running
  statistics, while their affine parameters stay frozen; off, the backbone runs in inference mode.

Settings from MiSLAS' code (dvlab-research/MiSLAS, `config/cifar*/..._stage2_mislas.yaml`,
`train_stage2.py`) and METHODS.md: 10 epochs, batch 128, lr 0.1, SGD momentum 0.9, weight decay
2e-4 on both groups; per dataset and imbalance factor (`mislas_settings`):

    dataset    IF   eps_head  eps_tail  lr_factor  shift_bn
    CIFAR-100  100  0.4       0.1       0.2        yes
    CIFAR-100  50   0.3       0.0       0.1        yes
    CIFAR-100  10   0.2       0.0       0.1        yes
    CIFAR-10   100  0.3       0.0       0.5        no
    CIFAR-10   50   0.2       0.0       0.2        no
    CIFAR-10   10   0.1       0.0       0.2        no

`mislas`' defaults are CIFAR-100-LT IF100's row. Where we differ: the cosine decays per step (theirs
per epoch, from `lr` at epoch 0 down to `lr * (1 + cos(9 pi / 10)) / 2` in the last), classes are
drawn with replacement.
"""

import keras

from keras_lt.data.batch_choice import training_batches
from keras_lt.errors import KerasLTError
from keras_lt.losses import LabelAwareSmoothing
from keras_lt.models import rebuild
from keras_lt.trainers.decoupled import ClassifierRetrainer
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.sgd import SGD
from keras_lt.trainers.stage2 import check_stage2_data

# MiSLAS' stage-2 configs (METHODS.md): (eps_head, eps_tail, lr_factor) per dataset and imbalance factor.
SETTINGS = {
    ("cifar100", 100): (0.4, 0.1, 0.2), ("cifar100", 50): (0.3, 0.0, 0.1), ("cifar100", 10): (0.2, 0.0, 0.1),
    ("cifar10", 100): (0.3, 0.0, 0.5), ("cifar10", 50): (0.2, 0.0, 0.2), ("cifar10", 10): (0.1, 0.0, 0.2),
}
CLASSIFIER_LAYERS = ("classifier",)
SCALE_LAYERS = ("logit_scale",)


def mislas_settings(dataset, imbalance_factor):
    """MiSLAS' stage-2 settings for CIFAR-10-LT / CIFAR-100-LT at imbalance factor 10, 50 or 100.

    Args:
        dataset: "cifar10" or "cifar100".
        imbalance_factor: 10, 50 or 100.

    Returns:
        `{"eps_head", "eps_tail", "lr_factor", "shift_bn"}`, keyword arguments of `mislas`
        (MiSLAS' configs: lr_factor on CIFAR-100 0.2 at IF100, else 0.1; on CIFAR-10 0.5 at IF100,
        else 0.2; BN shift learning on CIFAR-100 only).

    Example:
    >>> model = mislas(stage1, images, labels, **mislas_settings("cifar100", 100))
    """
    key = (dataset, int(imbalance_factor))
    if key not in SETTINGS:
        known = ", ".join(f"{d} IF{f}" for d, f in SETTINGS)
        raise KerasLTError(f"no MiSLAS settings for {dataset} IF{imbalance_factor:g}; known: {known}.")
    eps_head, eps_tail, lr_factor = SETTINGS[key]
    return {"eps_head": eps_head, "eps_tail": eps_tail, "lr_factor": lr_factor, "shift_bn": dataset == "cifar100"}


@keras.saving.register_keras_serializable(package="keras_lt")
class MiSLASRetrainer(ClassifierRetrainer):
    """Trains a network's classifier with the compiled optimizer and its logit scale with a second one.

    Every other layer is frozen (`ClassifierRetrainer`). With `shift_bn`, BatchNorm layers stay
    "trainable" so that they run in training mode (batch statistics, running statistics updated),
    but their gamma and beta are frozen; the optimizers only ever see the classifier and scale
    variables. Without a `scale_optimizer`, the compiled optimizer trains both, one step per batch.

    Args:
        network: a keras-lt model with a "classifier" and a "logit_scale" layer.
        shift_bn: re-estimate the BatchNorm statistics on the training batches (MiSLAS: CIFAR-100
            only; on by default, as `mislas`' CIFAR-100-LT IF100 defaults).
        **kwargs: forwarded to `ERMTrainer`.

    Example:
    >>> trainer = MiSLASRetrainer(network, shift_bn=True)
    >>> trainer.compile(optimizer=SGD(CosineToZero(0.02, steps)), scale_optimizer=SGD(CosineToZero(0.1, steps)),
    ...                 loss=LabelAwareSmoothing(counts), metrics=["accuracy"])
    """

    def __init__(self, network, shift_bn=True, **kwargs):
        super().__init__(network, CLASSIFIER_LAYERS + SCALE_LAYERS, **kwargs)
        self.shift_bn = bool(shift_bn)
        batch_norms = [layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)]
        for layer in batch_norms if self.shift_bn else []:
            layer.trainable = True  # training mode: batch statistics, running statistics updated
            for variable in layer.trainable_variables:
                variable.trainable = False  # gamma, beta stay
        self.scale_optimizer = None

    def compile(self, *args, scale_optimizer=None, **kwargs):
        """`keras.Model.compile`, plus the optimizer of the logit scale (`scale_optimizer`; None: the compiled one).

        The optimizers are built here, on their own variables, so that a backup restored before
        the first step (`keras_lt.callbacks.Backup`) finds their slots.
        """
        super().compile(*args, **kwargs)
        self.scale_optimizer = scale_optimizer or self.optimizer
        for optimizer, group in self._groups(self.trainable_weights):
            optimizer.build(group)

    def _groups(self, variables):
        """`[(optimizer, its variables)]`: one pair for a shared optimizer, else the head's and the scale's."""
        scale_ids = {id(v) for name in SCALE_LAYERS for v in self.network.get_layer(name).trainable_weights}
        head = [v for v in variables if id(v) not in scale_ids]
        scale = [v for v in variables if id(v) in scale_ids]
        if self.scale_optimizer is self.optimizer:  # one apply: one step of its iterations and schedule
            return [(self.optimizer, head + scale)]
        return [(self.optimizer, head), (self.scale_optimizer, scale)]

    def apply_gradients(self, variables):
        for optimizer, group in self._groups(variables):
            optimizer.apply([v.value.grad for v in group], group)

    def get_config(self):
        config = {k: v for k, v in super().get_config().items() if k != "trainable_layers"}  # always the head and scale
        return {**config, "shift_bn": self.shift_bn}


def mislas(
    network,
    images=None,
    labels=None,
    epochs=10,
    lr=0.1,
    lr_factor=0.2,
    batch_size=128,
    momentum=0.9,
    weight_decay=2e-4,
    eps_head=0.4,
    eps_tail=0.1,
    shift_bn=True,
    seed=0,
    callbacks=(),
    verbose="auto",
    output_dir=None,
):
    """MiSLAS stage 2: a new model with a re-balanced classifier and a learnt logit scale (LWS).

    The defaults are MiSLAS' CIFAR-100-LT IF100 settings; pass `**mislas_settings(dataset, IF)` for
    another dataset or imbalance factor. The input model is left untouched. The new one is the
    input's architecture with `logit_scale=True` (so `save_pretrained` / `from_pretrained`
    round-trip it) and the input's weights; its logit scale starts at 1 even if the input had one.
    Its `keras_lt_config` records the settings under "mislas".

    Args:
        network: a trained keras-lt model (stage 1: mixup ERM or LCReg).
        images: uint8 `(N, H, W, C)` training images (the stage-1 training set).
        labels: their integer labels.
        epochs: training epochs (10; short30: 3).
        lr: learning rate of the logit scale; the classifier gets `lr * lr_factor`. Cosine to 0.
        lr_factor: the classifier's share of `lr` (MiSLAS: CIFAR-100 0.2 at IF100, else 0.1;
            CIFAR-10 0.5 at IF100, else 0.2).
        batch_size: images per batch.
        momentum: SGD momentum.
        weight_decay: coupled L2 on the trained variables.
        eps_head: label-aware smoothing of the largest class (see `mislas_settings`).
        eps_tail: label-aware smoothing of the smallest class.
        shift_bn: re-estimate the backbone's BatchNorm statistics on the class-balanced batches
            (MiSLAS: CIFAR-100 only).
        seed: seed of the sampling and the augmentation.
        callbacks: extra Keras callbacks (e.g. a `CSVLogger`).
        verbose: Keras' fit verbosity.
        output_dir: a run directory for a per-epoch backup (`keras_lt.trainers.stage2_callbacks`):
            called again with it after an interruption, the training continues exactly.

    Returns:
        The new `keras.Model`.

    Example:
    >>> stage1 = keras_lt.from_pretrained("runs/mixup-stage1")
    >>> model = mislas(stage1, images, labels, **mislas_settings("cifar10", 100))
    """
    num_classes = network.output_shape[-1]
    check_stage2_data("MiSLAS stage 2", images, labels, epochs, num_classes)
    keras.utils.set_random_seed(seed)
    model = rebuild(network, fresh=SCALE_LAYERS, logit_scale=True)
    batches = training_batches(images, labels, num_classes, batch_size, sampler="class_balanced", seed=seed)
    steps = epochs * len(batches)
    trainer = MiSLASRetrainer(model, shift_bn=shift_bn)
    trainer.compile(
        optimizer=SGD(CosineToZero(lr * lr_factor, steps), momentum=momentum, weight_decay=weight_decay),
        scale_optimizer=SGD(CosineToZero(lr, steps), momentum=momentum, weight_decay=weight_decay),
        loss=LabelAwareSmoothing(batches.class_counts, eps_head=eps_head, eps_tail=eps_tail),
        metrics=["accuracy"],
    )
    trainer.fit_head(batches, epochs, callbacks, verbose, output_dir)
    model.keras_lt_config["mislas"] = dict(
        epochs=epochs, lr=lr, lr_factor=lr_factor, batch_size=batch_size, momentum=momentum,
        weight_decay=weight_decay, eps_head=eps_head, eps_tail=eps_tail, shift_bn=shift_bn,
        sampler="class_balanced", seed=seed,
    )
    return model
