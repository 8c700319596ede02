"""AFR stage 2 (adversarial feature re-calibration, VISAPP 2024) on a trained CMO network.

Steps of METHODS.md, at the start of every `regenerate_every`-epoch period:

1. Embed every training image (un-augmented, inference mode) with the network being fine-tuned:
   its "pool" layer's output `e_x`; class means `e_c`.
2. Adaptive threshold: per-class training accuracy `a_c` (argmax of the same pass) and the overall
   `a_train`; `lambda_c = a_c if a_c < a_train else majority_threshold` (lambda = 0.8), once
   `a_train` has reached `adaptive_from_accuracy` (the paper: "while the training accuracy reaches a
   certain level (between 60% to 70%)"; 0.6 here). Below that level every class keeps the fixed
   threshold lambda (0.8). A sample is an intra-class MINORITY when `cos(e_x, e_c) < lambda_c`, else
   majority.
3. Attack head: a linear map of the (frozen) embeddings to 2C outputs, class c's majority at `2c`
   and its minority at `2c + 1`, trained with CE on the split of step 2.
4. Re-balance: `N` class-balanced draws (with replacement) of the training set; for a random
   `attack_fraction` (50%) of the drawn majority samples, targeted PGD towards "class y minority"
   (`2y + 1`) of backbone + attack head (eps 0.6, 3 steps of 1/255, L-inf, pixel space), label y kept.
   A class with no intra-class minority has no minority output trained on any sample, so its
   samples are not attacked (`attack_without_minority=True` attacks them all the same).
5. Fine-tune the whole network (`AFRTrainer`) on the re-balanced set with crop + flip, adding to
   every batch CutMix (Beta(1, 1)) samples of the ORIGINAL long-tailed set: `cutmix_fraction` (25%)
   of the batch size, each an original sample (background) with a box of a re-balanced sample.

Our readings, each a knob:
- The split, the attack head and the adversarial images are all redone at every regeneration, from
  the network being fine-tuned (the paper regenerates "every 10 epochs" without saying what is kept).
- The attack head starts from the network's classifier (class c's weights at both 2c and 2c + 1;
  "fine-tuned PGD") and takes `attack_steps` full-batch Adam steps (`attack_lr`); a cosine
  classifier's head starts at random.
- `a_train` is the instance accuracy of the un-augmented training set; the adaptive gate is checked
  at every regeneration (no memory of an earlier one), with `adaptive_from_accuracy` 0.6, the low
  end of the paper's range (None: always adaptive).
- "25% of the original samples": per step, `round(cutmix_fraction * B)` originals drawn uniformly
  (so 25% of the originals per epoch on average), mixed with the first ones of the (shuffled)
  batch; both in one forward pass, the mixed ones with `lam * L(y_orig) + (1 - lam) * L(y_rebal)`.
- Stage-2 optimisation (the paper gives none): SGD momentum 0.9, wd 2e-4, batch 128, lr 0.01 with a
  per-step cosine to 0, plain CE (the set is already class-balanced), BatchNorm in training mode.

On streamed data (an `ImageFiles` training set: ImageNet-LT, Places-LT, iNaturalist, an image
folder), our reading, memory-bounded: the same steps on the images' evaluation view (resize +
centre crop, `keras_lt.data.EvalBatches`: what a CIFAR image is as it is stored), never all decoded.
- Steps 1-2 decode and embed the training set batch by batch (`inference_batch_size`); the
  embeddings and logits (N x D floats, 0.9 GB for ImageNet-LT's ResNet-50) are what is kept.
- Step 4 decodes the drawn samples' views chunk by chunk, attacks the chosen ones, and writes the
  re-balanced set to a uint8 `.npy` file in the run directory, memory-mapped
  (`keras_lt.data.DiskBatches`; `afr_rebalanced_images.npy`, a temporary directory without
  `output_dir`): per sample the set the memory pipeline would hold, on disk (ImageNet-LT at 224:
  115.8k x 147 KB = 17 GB; one file per period, replaced in one step, the backups hard-linking
  it, so two at a period's change). Draws, split, head and attacks are computed as in memory.
- Step 5 reads a batch of it at a time and crops it with the streamed pipeline's crop + flip
  (random-resized crop, scale 0.08..1, + flip, on the device); the CutMix backgrounds are original
  images streamed with the training augmentation (`StreamingBatches.images_at`).
Why not keep only the draws, the attack decisions and the head, and attack inside the step: it
needs no disk, but PGD would run every epoch instead of every period (3 more forward-backward
passes of the attacked share of each batch, about twice the compute of a fine-tune epoch), on
augmented crops rather than on the images (another method), and a resumed run would have to replay it.

In a multi-process run (`torchrun`, `keras-lt train --devices N`) every rank fine-tunes on one set,
the same bytes, made once: the ranks share the regeneration's two passes over the data and
`all_gather` the results (`AFRTrainer._shared`): each embeds a share of the training set (step 1),
and each attacks a share of the chosen samples (step 4; on streamed data each also decodes a
share of the drawn images). The steps between (split, attack head, draws) are small and computed
by every rank from the gathered embeddings; the attack decisions are rank 0's, broadcast. Rank 0
alone writes the streamed set's file, in the run directory that every rank is given (never one
copy per rank: 17 GB each on ImageNet-LT), and the others map it. Why not rank 0 alone: it would
take N times the time of a shared pass while the other N - 1 devices wait (a regeneration costs
about one and a half epochs of one device's work, a period of 10 epochs on N devices 10 / N: on 8
GPUs the run would take twice as long); why not every rank all of it: the same N-fold work on
every rank, one file per rank, and the sets of ranks whose GPUs round the sums differently would
differ. A resumed fit's saved set is reloaded by rank 0 and shared with the others (the images
broadcast, or rank 0's file mapped), so an interrupted multi-process run resumes exactly too.

The split (per class: count, accuracy, threshold, minority, majority, attacked) of every
regeneration is printed when it is made (unless `verbose=0`) and, with an `output_dir`, written to
`afr_split.json` there (`keras_lt.callbacks.AFRRegeneration`), which also keeps the current
re-balanced set so that an interrupted fine-tune resumes exactly.

The code: `afr` (here) checks the settings (`check_settings`), then sets up and fits an `AFRTrainer`
(`keras_lt.trainers.afr_trainer`: steps 1 to 5), whose split is `keras_lt.trainers.intra_class_split`'s;
the settings' ranges are `keras_lt.trainers.afr_settings`'.
"""

import inspect
import os
import shutil
import tempfile

import keras

from keras_lt import distributed
from keras_lt import losses
from keras_lt.callbacks.afr_regeneration import REBALANCED_IMAGES_FILE
from keras_lt.callbacks.afr_regeneration import AFRRegeneration
from keras_lt.data.batch_choice import training_batches
from keras_lt.data.disk_batches import DiskBatches
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.models import rebuild
from keras_lt.trainers.afr_settings import RANGES
from keras_lt.trainers.afr_settings import checked
from keras_lt.trainers.afr_trainer import AFRTrainer
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.sgd import SGD
from keras_lt.trainers.stage2 import check_stage2_data
from keras_lt.trainers.stage2 import stage2_callbacks

RUN_ARGUMENTS = ("network", "images", "labels", "callbacks", "verbose", "output_dir", "knobs")  # `afr`'s, not settings


def check_settings(settings):
    """Raises one `KerasLTError` line if `settings` names a setting `afr` does not take, or one out of its range.

    What `keras_lt.recipe_checks.check_recipe` runs on a recipe's `finetune` entries, before any training;
    the ranges are `checked`'s (`RANGES`), the other settings (epochs, lr, ...) are `afr`'s own.

    Args:
        settings: keyword arguments of `afr`, by name.

    Example:
    >>> check_settings({"epochs": 50, "alpha": 0.0})
    KerasLTError: AFR's alpha must be a number > 0, got 0.0.
    """
    own = [name for name in inspect.signature(afr).parameters if name not in RUN_ARGUMENTS]
    unknown = sorted(set(settings) - set(own) - set(RANGES))
    if unknown:
        known = ", ".join(dict.fromkeys([*own, *RANGES]))
        raise KerasLTError(f"AFR takes no setting {', '.join(unknown)}; its settings: {known}.")
    for name, value in settings.items():
        if name in RANGES:
            checked(name, value)



def afr(
    network,
    images=None,
    labels=None,
    epochs=50,
    regenerate_every=10,
    lr=0.01,
    batch_size=128,
    momentum=0.9,
    weight_decay=2e-4,
    loss="ce",
    seed=0,
    callbacks=(),
    verbose="auto",
    output_dir=None,
    **knobs,
):
    """AFR stage 2: a new network, fine-tuned from `network` on adversarially re-balanced data.

    The input network is left untouched (the new one is rebuilt from its architecture and weights,
    so `keras_lt.save_pretrained` / `from_pretrained` round-trip it); its `keras_lt_config["afr"]`
    records the settings and the split of every regeneration. This is `STAGE2["afr"]`: a recipe
    with `"finetune": {"method": "afr", ...}` and `init_from` a CMO checkpoint runs it.

    Args:
        network: a trained keras-lt model (stage 1: BS + CMO), with a "pool" layer.
        images: uint8 `(N, H, W, C)` long-tailed training images (the stage-1 training set), or
            their `keras_lt.data.ImageFiles` (streamed; the re-balanced set goes to a file, see
            the module docstring).
        labels: their integer labels.
        epochs: fine-tuning epochs (50; 10 in short30).
        regenerate_every: epochs between regenerations of split, head and adversarial set (10; 2 in short30).
        lr: initial learning rate of the per-step cosine to 0 (our reading, the paper gives none).
        batch_size: images per batch (of the re-balanced set; the CutMix samples come on top).
        momentum: SGD momentum.
        weight_decay: coupled L2 on every parameter, as torch's SGD.
        loss: a `keras_lt.losses` name for the fine-tuning loss ("ce": the set is balanced).
        seed: seed of the draws (split, re-balancing, PGD choice, CutMix, order, augmentation).
        callbacks: extra Keras callbacks for the fine-tuning (e.g. a `CSVLogger`).
        verbose: Keras' fit verbosity; also prints each split unless 0.
        output_dir: a run directory: the splits go to `afr_split.json` there, and a per-epoch backup
            (`keras_lt.trainers.stage2_callbacks`) plus the current re-balanced set let a call with
            the same `output_dir` continue an interrupted fine-tune exactly. In a multi-process run
            every rank passes the same one; rank 0 alone writes there.
        **knobs: `AFRTrainer`'s settings by name (its `KNOBS`: cutmix_fraction, alpha, attack_fraction,
            eps, pgd_steps, step_size, majority_threshold, adaptive_from_accuracy,
            attack_without_minority, attack_steps, attack_lr, inference_batch_size).

    Returns:
        The fine-tuned `keras.Model`.

    Raises:
        KerasLTError: an unknown setting, one out of its range (`check_settings`), or data that does
            not fit the network.

    Example:
    >>> cmo = keras_lt.from_pretrained("cmo-resnet32-cifar100lt")
    >>> model = afr(cmo, images, labels, epochs=50, regenerate_every=10)
    """
    num_classes = network.output_shape[-1]
    check_stage2_data("AFR", images, labels, epochs, num_classes)
    check_settings({"regenerate_every": regenerate_every, **knobs})
    keras.utils.set_random_seed(seed)
    model = rebuild(network)
    trainer = AFRTrainer(model, **knobs)
    originals = training_batches(images, labels, num_classes, batch_size, seed=seed)
    scratch = None
    if isinstance(images, ImageFiles):  # the re-balanced set lives in a file of the run (else rank 0's temporary one)
        if output_dir is None:
            scratch = distributed.broadcast_object(distributed.is_main() and tempfile.mkdtemp(prefix="keras-lt-afr-"))
        path = os.path.join(output_dir or scratch, REBALANCED_IMAGES_FILE)
        rebalanced = DiskBatches(path, labels, num_classes, images.shape[1:], batch_size, seed=seed)
    else:
        rebalanced = DeviceBatches(images, labels, num_classes, batch_size, seed=seed)
    trainer.originals = originals
    trainer.compile(
        optimizer=SGD(CosineToZero(lr, epochs * len(rebalanced)), momentum=momentum, weight_decay=weight_decay),
        loss=losses.get(loss, originals.class_counts),
        metrics=["accuracy"],
    )
    record = {
        "method": "afr", "epochs": epochs, "regenerate_every": regenerate_every, "lr": lr,
        "batch_size": batch_size, "momentum": momentum, "weight_decay": weight_decay, "loss": loss,
        "seed": seed, **trainer.knobs(),
    }
    regeneration = AFRRegeneration(trainer, regenerate_every, output_dir, record, verbose=verbose != 0)
    try:
        trainer.fit(
            rebalanced, epochs=epochs, shuffle=False, verbose=verbose,
            callbacks=stage2_callbacks(rebalanced, [*trainer.epoch_callbacks(), regeneration, *callbacks], output_dir),
        )
    finally:
        if scratch is not None and distributed.is_main():
            shutil.rmtree(scratch, ignore_errors=True)
    regeneration.cleanup()
    model.keras_lt_config["afr"] = {**record, "regenerations": regeneration.records}
    return model
