"""CP-Mix's classifier fine-tune: its stage 2, the classifier trained on class-balanced batches."""

import keras

from keras_lt.models import rebuild
from keras_lt.trainers.decoupled import HEAD_LAYERS
from keras_lt.trainers.decoupled import train_head
from keras_lt.trainers.stage2 import check_stage2_data


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
    check_stage2_data("CP-Mix's fine-tune", images, labels, epochs, network.output_shape[-1])
    keras.utils.set_random_seed(seed)
    model = rebuild(network, fresh=HEAD_LAYERS if reinitialize else ())
    head = [layer.name for layer in model.layers if layer.name in HEAD_LAYERS]
    settings = dict(
        epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay,
        sampler="class_balanced", seed=seed,
    )
    train_head(model, head, images, labels, settings, callbacks, verbose, output_dir)
    model.keras_lt_config["cpmix_finetune"] = {"reinitialize": bool(reinitialize), **settings}
    return model
