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
"""

import inspect
import numbers
import os
import shutil
import tempfile

import keras
import numpy as np
import torch

from keras_lt import distributed
from keras_lt import losses
from keras_lt.callbacks.afr_regeneration import REBALANCED_IMAGES_FILE
from keras_lt.callbacks.afr_regeneration import AFRRegeneration
from keras_lt.data.batch_choice import training_batches
from keras_lt.data.cutmix import cutmix
from keras_lt.data.disk_batches import DiskBatches
from keras_lt.data.eval_batches import EvalBatches
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.data.samplers import ClassSampler
from keras_lt.data.samplers import class_probabilities
from keras_lt.data.streaming import StreamingBatches
from keras_lt.errors import KerasLTError
from keras_lt.models import rebuild
from keras_lt.random_keys import AFR_CUTMIX_STREAM
from keras_lt.random_keys import regeneration_key
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.ingredient import check_alpha
from keras_lt.trainers.pgd import targeted_pgd
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.sgd import SGD
from keras_lt.trainers.stage2 import check_stage2_data
from keras_lt.trainers.stage2 import stage2_callbacks

RANGES = {  # AFR's settings with a range: (type, lowest, highest), None where unbounded
    "regenerate_every": (int, 1, None),
    "cutmix_fraction": (float, 0, 1),
    "alpha": (float, None, None),  # > 0: check_alpha
    "attack_fraction": (float, 0, 1),
    "eps": (float, 0, None),
    "pgd_steps": (int, 0, None),
    "step_size": (float, 0, None),
    "majority_threshold": (float, -1, 1),
    "adaptive_from_accuracy": (float, 0, 1),  # or None: always adaptive
    "attack_without_minority": (bool, None, None),
    "attack_steps": (int, 0, None),
    "attack_lr": (float, 0, None),
    "inference_batch_size": (int, 1, None),
}
RUN_ARGUMENTS = ("network", "images", "labels", "callbacks", "verbose", "output_dir", "knobs")  # `afr`'s, not settings


def checked(name, value):
    """`value` of AFR's setting `name` (a key of `RANGES`) as the setting's type; one `KerasLTError` line unless it fits.

    Args:
        name: the setting, e.g. "attack_fraction".
        value: its value.

    Returns:
        `value` as an int, a float or a bool (`adaptive_from_accuracy` may be None).

    Example:
    >>> checked("attack_fraction", 1)
    1.0
    >>> checked("attack_fraction", 1.5)
    KerasLTError: AFR's attack_fraction must be in [0, 1], got 1.5.
    """
    kind, low, high = RANGES[name]
    if value is None and name == "adaptive_from_accuracy":
        return None
    if kind is bool:
        if not isinstance(value, bool):
            raise KerasLTError(f"AFR's {name} must be true or false, got {value!r}.")
        return value
    if not isinstance(value, numbers.Integral if kind is int else numbers.Real) or isinstance(value, bool):
        raise KerasLTError(f"AFR's {name} must be {'an integer' if kind is int else 'a number'}, got {value!r}.")
    if name == "alpha":
        try:
            check_alpha(value)
        except ValueError as error:
            raise KerasLTError(f"AFR's {error}") from None
    elif value < low or (high is not None and value > high):
        raise KerasLTError(f"AFR's {name} must be {f'>= {low}' if high is None else f'in [{low}, {high}]'}, got {value!r}.")
    return kind(value)


def check_settings(settings):
    """Raises one `KerasLTError` line if `settings` names a setting `afr` does not take, or one out of its range.

    What `keras_lt.recipe_checks.check_recipe` runs on a recipe's `finetune` entries, before any training;
    the ranges are `checked`'s (`RANGES`), the other settings (epochs, lr, ...) are `afr`'s own.

    Args:
        settings: keyword arguments of `afr`, by name.

    Example:
    >>> check_settings({"epochs": 50, "alpha": 0.0})
    KerasLTError: AFR's alpha must be > 0, got 0.0.
    """
    own = [name for name in inspect.signature(afr).parameters if name not in RUN_ARGUMENTS]
    unknown = sorted(set(settings) - set(own) - set(RANGES))
    if unknown:
        known = ", ".join(dict.fromkeys([*own, *RANGES]))
        raise KerasLTError(f"AFR takes no setting {', '.join(unknown)}; its settings: {known}.")
    for name, value in settings.items():
        if name in RANGES:
            checked(name, value)


def adaptive_thresholds(class_accuracy, train_accuracy, majority_threshold=0.8, adaptive_from_accuracy=0.6):
    """AFR's per-class cosine thresholds: `a_c` where `a_c < a_train`, else `majority_threshold`.

    The adaptive rule applies once `a_train` reaches `adaptive_from_accuracy` (the paper: 60% to
    70%); below it every class gets `majority_threshold`, the paper's fixed lambda.

    Args:
        class_accuracy: per-class training accuracies `a_c`.
        train_accuracy: the overall training accuracy `a_train`.
        majority_threshold: lambda, the threshold of the classes at or above `a_train` (0.8 in the paper).
        adaptive_from_accuracy: the training accuracy from which the rule is adaptive; None: always.

    Returns:
        A float64 NumPy vector of thresholds `lambda_c`.

    Example:
    >>> adaptive_thresholds([0.5, 0.95], 0.9)
    array([0.5, 0.8])
    >>> adaptive_thresholds([0.3, 0.6], 0.5)  # below 60% training accuracy: fixed lambda
    array([0.8, 0.8])
    """
    accuracy = np.asarray(class_accuracy, dtype="float64")
    if adaptive_from_accuracy is not None and train_accuracy < adaptive_from_accuracy:
        return np.full_like(accuracy, float(majority_threshold))
    return np.where(accuracy < train_accuracy, accuracy, float(majority_threshold))


def intra_class_minority(embeddings, labels, thresholds):
    """Which samples are intra-class minorities: `cos(e_x, e_c) < lambda_c`, `e_c` the class mean.

    Args:
        embeddings: float tensor `(N, D)`.
        labels: int64 tensor `(N,)`.
        thresholds: `(C,)` thresholds `lambda_c` (array or tensor).

    Returns:
        A bool tensor `(N,)`: True for the intra-class minority samples.

    Example:
    >>> minority = intra_class_minority(e, y, adaptive_thresholds(acc, acc_train))
    """
    num_classes = len(thresholds)
    embeddings = embeddings.float()
    sums = torch.zeros((num_classes, embeddings.shape[1]), device=embeddings.device).index_add_(0, labels, embeddings)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).unsqueeze(1)
    means = sums / counts
    cosine = torch.nn.functional.cosine_similarity(embeddings, means[labels], dim=1, eps=1e-12)
    limit = torch.as_tensor(np.asarray(thresholds), dtype=torch.float32, device=embeddings.device)[labels]
    return cosine < limit


@keras.saving.register_keras_serializable(package="keras_lt")
class AFRTrainer(ERMTrainer):
    """AFR's stage-2 trainer: fine-tunes on the adversarially re-balanced set plus CutMix of originals.

    `fit` it on a `DeviceBatches` (the re-balanced set; `regenerate` replaces its images and labels)
    with its `epoch_callbacks()` and an `AFRRegeneration` callback; `originals` is a
    `DeviceBatches` of the long-tailed training set (CutMix backgrounds, the split and the
    re-balanced draws). On streamed data `originals` is a `StreamingBatches` and the re-balanced
    set a `DiskBatches` (`regenerate` rewrites its file). `keras_lt.trainers.afr` sets all
    of this up; see the module docstring for the steps and our readings.

    Args:
        network: the network to fine-tune (all of it), with a "pool" layer (the embedding).
        cutmix_fraction: CutMix samples of the originals per step, as a share of the batch size.
        alpha: the CutMix Beta parameter.
        attack_fraction: share of the drawn majority samples that are attacked.
        eps: PGD's L-inf radius, pixel space [0, 1].
        pgd_steps: PGD's steps.
        step_size: PGD's step, pixel space [0, 1].
        majority_threshold: the threshold of classes at or above the training accuracy (lambda).
        adaptive_from_accuracy: training accuracy from which the thresholds are adaptive (0.6);
            below it every class has `majority_threshold`; None: always adaptive.
        attack_without_minority: also attack the samples of classes with no intra-class minority
            (towards a minority output trained on no sample).
        attack_steps: full-batch Adam steps of the attack head.
        attack_lr: the attack head's Adam learning rate.
        inference_batch_size: images per forward pass when embedding and attacking.
        **kwargs: forwarded to `ERMTrainer`.

    A setting out of its range (`RANGES`) is one `KerasLTError` line.

    Example:
    >>> trainer = AFRTrainer(model)
    >>> trainer.originals = DeviceBatches(images, labels, num_classes)
    >>> trainer.fit(rebalanced, epochs=50, shuffle=False, callbacks=[
    ...     EpochSeeder(rebalanced), *trainer.epoch_callbacks(), AFRRegeneration(trainer, 10)])
    """

    needs_training_set = "AFR fine-tunes on a re-balanced set"

    def __init__(
        self,
        network,
        cutmix_fraction=0.25,
        alpha=1.0,
        attack_fraction=0.5,
        eps=0.6,
        pgd_steps=3,
        step_size=1 / 255,
        majority_threshold=0.8,
        adaptive_from_accuracy=0.6,
        attack_without_minority=False,
        attack_steps=100,
        attack_lr=0.01,
        inference_batch_size=512,
        **kwargs,
    ):
        super().__init__(network, **kwargs)
        if not any(layer.name == "pool" for layer in network.layers):
            raise KerasLTError("AFR embeds images with the network's 'pool' layer; build it with keras_lt.models.")
        self.cutmix_fraction = checked("cutmix_fraction", cutmix_fraction)
        self.alpha = checked("alpha", alpha)
        self.attack_fraction = checked("attack_fraction", attack_fraction)
        self.eps = checked("eps", eps)
        self.pgd_steps = checked("pgd_steps", pgd_steps)
        self.step_size = checked("step_size", step_size)
        self.majority_threshold = checked("majority_threshold", majority_threshold)
        self.adaptive_from_accuracy = checked("adaptive_from_accuracy", adaptive_from_accuracy)
        self.attack_without_minority = checked("attack_without_minority", attack_without_minority)
        self.attack_steps = checked("attack_steps", attack_steps)
        self.attack_lr = checked("attack_lr", attack_lr)
        self.inference_batch_size = checked("inference_batch_size", inference_batch_size)
        self.embedder = keras.Model(network.inputs, [network.get_layer("pool").output, network.outputs[0]])
        self.originals = None  # DeviceBatches (or StreamingBatches) of the long-tailed training set

    def fit(self, x=None, *args, **kwargs):
        if self.originals is None:
            raise KerasLTError(
                "AFR mixes the original long-tailed set into its batches: set trainer.originals to its "
                "DeviceBatches or StreamingBatches (or use keras_lt.trainers.afr)."
            )
        return super().fit(x, *args, **kwargs)

    # -- the regeneration (steps 1 to 4) ---------------------------------------------------------

    def embed(self, images):
        """Embeddings (the "pool" output) and logits of uint8 images, inference mode, in chunks.

        `images` is a uint8 NHWC tensor, or an `ImageFiles` (streamed in their evaluation view). In
        a multi-process run the ranks embed a share each and every rank gets all (`_shared`).
        """
        embeddings, logits = [], []
        with torch.no_grad():
            for _, (e, z) in self._shared(images, lambda rows, chunk: self.embedder(chunk.float(), training=False)):
                embeddings.append(e)
                logits.append(z)
        return torch.cat(embeddings), torch.cat(logits)

    def _shared(self, images, compute):
        """`(rows, outputs)` of `images` in steps: `compute(rows, chunk)`'s tensors for the step's rows, on every rank.

        `images` is cut into chunks of `inference_batch_size` rows (uint8 NHWC on the device,
        decoded in their evaluation view if an `ImageFiles`). With W ranks, step k covers chunks
        kW .. kW + W - 1, consecutive rows: rank r computes chunk kW + r (an empty one past the end)
        and `all_gather` hands every rank all W outputs, in row order. In one process a step is a
        chunk, computed as it comes.
        """
        size, world, rank = self.inference_batch_size, distributed.world_size(), distributed.rank()
        count = len(images)
        steps = range(0, count, size * world)
        own = [slice(min(start + rank * size, count), min(start + (rank + 1) * size, count)) for start in steps]
        for start, rows, chunk in zip(steps, own, self._chunks(images, own)):
            outputs = [distributed.all_gather(output.detach()) for output in compute(rows, chunk)]
            yield slice(start, min(start + size * world, count)), outputs

    def _chunks(self, images, parts):
        """The uint8 NHWC chunks of `images` at the row slices `parts` (in order, all but the last full), on the device.

        An `ImageFiles`' chunks are decoded in their evaluation view, as one sequence of batches.
        """
        if not isinstance(images, ImageFiles):
            yield from (images[rows] for rows in parts)
            return
        device = self.originals.device
        rows = np.concatenate([np.arange(part.start, part.stop) for part in parts])
        decoded = EvalBatches(images[rows], self.inference_batch_size) if len(rows) else None
        for index, part in enumerate(parts):
            if part.stop > part.start:
                yield decoded[index][0].to(device)
            else:
                yield torch.zeros((0, *images.shape[1:]), dtype=torch.uint8, device=device)
        if decoded is not None:
            decoded.on_epoch_end()  # its decoding workers exit

    def attack_head(self, embeddings, targets, generator):
        """`(kernel, bias)` of the 2C-way head, from the classifier, trained on `(embeddings, targets)`."""
        num_classes = self.network.output_shape[-1]
        classifier = self.network.get_layer("classifier")
        if isinstance(classifier, keras.layers.Dense):
            kernel = classifier.kernel.value.detach().repeat_interleave(2, dim=1).clone()
            bias = classifier.bias.value.detach().repeat_interleave(2).clone() if classifier.use_bias else None
        else:
            kernel = torch.randn((embeddings.shape[1], 2 * num_classes), device=embeddings.device, generator=generator)
            kernel = kernel * (2.0 / embeddings.shape[1]) ** 0.5
            bias = None
        if bias is None:
            bias = torch.zeros(2 * num_classes, device=embeddings.device)
        kernel.requires_grad_(True)
        bias.requires_grad_(True)
        optimizer = torch.optim.Adam([kernel, bias], lr=self.attack_lr)
        with torch.enable_grad():
            for _ in range(self.attack_steps):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(embeddings @ kernel + bias, targets)
                loss.backward()
                optimizer.step()
        return kernel.detach(), bias.detach()

    def regenerate(self, epoch):
        """Steps 1-4 for the period starting at `epoch`: replaces the re-balanced set; returns the split summary."""
        originals = self.originals
        num_classes = originals.num_classes
        sequence = np.random.SeedSequence(originals.seed, spawn_key=regeneration_key(epoch))
        generator = torch.Generator(device=originals.device)
        generator.manual_seed(int(sequence.generate_state(1)[0]))
        labels = originals.labels

        # 1-2: embeddings, accuracies, thresholds, split.
        streamed = isinstance(originals, StreamingBatches)
        embeddings, logits = self.embed(originals.files if streamed else originals.images)
        correct = (torch.argmax(logits, -1) == labels).float()
        counts = torch.bincount(labels, minlength=num_classes)
        class_accuracy = (torch.zeros(num_classes, device=labels.device).index_add_(0, labels, correct)
                          / counts.clamp(min=1)).cpu().numpy()
        train_accuracy = float(correct.mean())
        thresholds = adaptive_thresholds(
            class_accuracy, train_accuracy, self.majority_threshold, self.adaptive_from_accuracy
        )
        minority = intra_class_minority(embeddings, labels, thresholds)
        minority_counts = torch.bincount(labels[minority], minlength=num_classes)

        # 3: the 2C-way attack head on the frozen embeddings.
        kernel, bias = self.attack_head(embeddings, 2 * labels + minority.long(), generator)

        # 4: class-balanced draws; PGD towards "class y minority" on a share of the drawn majority
        # (of the classes that have a minority, unless attack_without_minority).
        probabilities = class_probabilities(originals.class_counts, "class_balanced")
        drawn = originals.class_sampler.sample(probabilities, len(labels), generator)  # the same on every rank
        attacked = ~minority[drawn] & (torch.rand(len(drawn), device=drawn.device, generator=generator) < self.attack_fraction)
        drawn_labels = labels[drawn]
        if not self.attack_without_minority:
            attacked &= minority_counts[drawn_labels] > 0
        # rank 0's choice: the ranks attack shares of one list (on GPUs, class means summed with
        # atomics may differ between ranks in the last bit, and so a borderline split).
        attacked = distributed.broadcast(attacked.to(torch.uint8)).bool()

        def attack_model(x):
            return self.embedder(x, training=False)[0] @ kernel + bias

        def attack(images, rows):
            targets = 2 * drawn_labels[rows] + 1
            return targeted_pgd(attack_model, images, targets, self.eps, self.pgd_steps, self.step_size)

        if streamed:  # drawn images decoded and attacked chunk by chunk, into the file of the set
            drawn_files = originals.files[drawn.cpu().numpy()]
            self.batches.write(len(drawn), self._attacked_chunks(drawn_files, attacked, attack))
            self.set_rebalanced(self.batches.images, drawn_labels)
        else:
            images = originals.images[drawn].clone()
            chosen = torch.nonzero(attacked).squeeze(1)
            for rows, (adversarial,) in self._shared(images[chosen], lambda rows, chunk: [attack(chunk, chosen[rows])]):
                images[chosen[rows]] = adversarial
            self.set_rebalanced(images, drawn_labels)

        minority_counts = minority_counts.cpu().numpy()
        attacked_counts = torch.bincount(drawn_labels[attacked], minlength=num_classes).cpu().numpy()
        counts = counts.cpu().numpy()
        return {
            "epoch": int(epoch),
            "train_accuracy": train_accuracy,
            "adaptive": bool(self.adaptive_from_accuracy is None or train_accuracy >= self.adaptive_from_accuracy),
            "minority_share": float(minority.float().mean()),
            "attacked": int(attacked.sum()),
            "classes": [
                {
                    "class": c,
                    "count": int(counts[c]),
                    "accuracy": float(class_accuracy[c]),
                    "threshold": float(thresholds[c]),
                    "minority": int(minority_counts[c]),
                    "majority": int(counts[c] - minority_counts[c]),
                    "attacked": int(attacked_counts[c]),
                }
                for c in range(num_classes)
            ],
        }

    def _attacked_chunks(self, files, attacked, attack):
        """`(rows, uint8 NHWC NumPy images)` of the drawn `files`, the `attacked` ones through `attack`."""

        def attack_chunk(rows, images):
            part = torch.nonzero(attacked[rows]).squeeze(1)
            if len(part):
                images[part] = attack(images[part], torch.arange(rows.start, rows.stop, device=part.device)[part])
            return [images]

        for rows, (images,) in self._shared(files, attack_chunk):
            yield rows, keras.ops.convert_to_numpy(images)

    def share_rebalanced(self):
        """Makes every rank's re-balanced set rank 0's: its labels and images broadcast, or its file mapped.

        For a fit resumed in a multi-process run, where rank 0 alone has reloaded the saved set
        (`keras_lt.callbacks.AFRRegeneration`); every rank calls it.

        Example:
        >>> trainer.share_rebalanced()  # after rank 0's trainer.set_rebalanced(images, labels)
        """
        batches = self.batches
        if isinstance(batches, DiskBatches):
            if not distributed.is_main():
                batches.load()  # rank 0's file: every rank has its path
            images = batches.images
        else:
            images = distributed.broadcast(batches.images)
        self.set_rebalanced(images, distributed.broadcast(batches.labels))

    def set_rebalanced(self, images, labels):
        """Makes `(images, labels)` (uint8 NHWC, int) the re-balanced set the fitted batches draw from.

        On a `DiskBatches` (streamed data) `images` is the memory map of its file, kept as it is.
        """
        batches = self.batches
        batches.images = images if isinstance(batches, DiskBatches) else torch.as_tensor(images, device=batches.device)
        batches.labels = torch.as_tensor(labels, dtype=torch.int64, device=batches.device)
        batches.class_sampler = ClassSampler(batches.labels, batches.num_classes)
        batches.class_counts = batches.class_sampler.class_counts.cpu().numpy()

    # -- the fine-tuning step (step 5) -----------------------------------------------------------

    def training_loss(self, x, y, sample_weight=None):
        size = int(round(self.cutmix_fraction * len(y)))
        if size == 0:
            return super().training_loss(x, y, sample_weight)
        originals = self.originals
        generator, rng = self.step_generators(AFR_CUTMIX_STREAM, originals.seed)
        idx = torch.randint(0, len(originals.labels), (size,), device=originals.device, generator=generator)
        background = originals.images_at(idx, generator)
        lam = torch.as_tensor(rng.beta(self.alpha, self.alpha, size), device=x.device)
        mixed, lam = cutmix(background, x[:size].to(background.dtype), lam, generator)
        logits = self(torch.cat([x, mixed.to(x.dtype)]), training=True)
        # clean samples: L(y) (lam 1); mixed ones: lam L(y_orig) + (1 - lam) L(y_rebalanced); mean over all.
        ones = torch.ones(len(y), device=x.device)
        weight = ones if sample_weight is None else torch.as_tensor(sample_weight, device=x.device).float()
        loss = self.two_label_loss(
            logits, torch.cat([y, originals.labels[idx]]), torch.cat([y, y[:size]]),
            torch.cat([ones, lam.float()]), torch.cat([weight, torch.ones_like(lam, dtype=weight.dtype)]),
        )
        return loss, logits[: len(y)]

    def knobs(self):
        """AFR's settings of this trainer, by name: what `get_config` adds to `ERMTrainer`'s, and what `afr` records."""
        return {
            "cutmix_fraction": self.cutmix_fraction,
            "alpha": self.alpha,
            "attack_fraction": self.attack_fraction,
            "eps": self.eps,
            "pgd_steps": self.pgd_steps,
            "step_size": self.step_size,
            "majority_threshold": self.majority_threshold,
            "adaptive_from_accuracy": self.adaptive_from_accuracy,
            "attack_without_minority": self.attack_without_minority,
            "attack_steps": self.attack_steps,
            "attack_lr": self.attack_lr,
            "inference_batch_size": self.inference_batch_size,
        }

    def get_config(self):
        return {**super().get_config(), **self.knobs()}


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
        **knobs: `AFRTrainer`'s settings by name (`RANGES`: cutmix_fraction, alpha, attack_fraction,
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

