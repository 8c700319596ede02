"""`AFRTrainer`: AFR's stage-2 trainer, its regeneration (steps 1 to 4) and its fine-tuning step (step 5).

The steps and our readings are `keras_lt.trainers.afr`'s module docstring; `keras_lt.trainers.afr`
(the function) sets the trainer up and fits it.
"""

import keras
import numpy as np
import torch

from keras_lt import distributed
from keras_lt.data.cutmix import cutmix
from keras_lt.data.disk_batches import DiskBatches
from keras_lt.data.eval_batches import EvalBatches
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.samplers import ClassSampler
from keras_lt.data.samplers import class_probabilities
from keras_lt.data.streaming import StreamingBatches
from keras_lt.errors import KerasLTError
from keras_lt.random_keys import AFR_CUTMIX_STREAM
from keras_lt.random_keys import regeneration_key
from keras_lt.trainers.afr_settings import RANGES
from keras_lt.trainers.afr_settings import checked
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.intra_class_split import adaptive_thresholds
from keras_lt.trainers.intra_class_split import intra_class_minority
from keras_lt.trainers.pgd import targeted_pgd

KNOBS = tuple(name for name in RANGES if name != "regenerate_every")  # the trainer's settings (that one is `afr`'s)


@keras.saving.register_keras_serializable(package="keras_lt")
class AFRTrainer(ERMTrainer):
    """AFR's stage-2 trainer: fine-tunes on the adversarially re-balanced set plus CutMix of originals.

    `fit` it on a `DeviceBatches` (the re-balanced set; `regenerate` replaces its images and labels)
    with its `epoch_callbacks()` and an `AFRRegeneration` callback; `originals` is a
    `DeviceBatches` of the long-tailed training set (CutMix backgrounds, the split and the
    re-balanced draws). On streamed data `originals` is a `StreamingBatches` and the re-balanced
    set a `DiskBatches` (`regenerate` rewrites its file). `keras_lt.trainers.afr` sets all
    of this up; its module docstring gives the steps and our readings.

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

    The settings after `network` are `KNOBS` (`knobs()`, `get_config`); one out of its range
    (`RANGES`) is one `KerasLTError` line.

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
        given = locals()  # the settings as passed: KNOBS are the signature's names
        for name in KNOBS:
            setattr(self, name, checked(name, given[name]))
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
        """This trainer's AFR settings (`KNOBS`), by name: what `get_config` adds to `ERMTrainer`'s, and `afr` records."""
        return {name: getattr(self, name) for name in KNOBS}

    def get_config(self):
        return {**super().get_config(), **self.knobs()}
