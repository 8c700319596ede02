"""The streaming training pipeline: image files decoded on the fly, same samplers and interface as on the device."""

import numpy as np
import torch

from keras_lt.data.batches import TrainingBatches
from keras_lt.data.decode_pool import DecodePool
from keras_lt.data.train_transform import TrainTransform
from keras_lt.random_keys import STREAMED_BATCH_STREAM

STREAMING_AUGMENTATIONS = ("imagenet", "imagenet_jitter")  # besides True (= "imagenet") and False
JITTER = (0.4, 0.4, 0.4)  # ColorJitter of the ImageNet-LT / iNaturalist recipes (classifier-balancing, MiSLAS)


class StreamingBatches(TrainingBatches):
    """Training batches decoded from image files by a worker pool, for sets too large for memory.

    The same interface as `DeviceBatches` (`keras_lt.data.TrainingBatches`: seeded epoch order,
    the four samplers, the rank's shard of every global batch, `images_at` for the images a method
    draws inside its step), so every trainer runs on it unchanged. Batch `i` of epoch `e` is decoded
    by `DecodePool`'s DataLoader workers, prefetched while the device trains, with the standard
    ImageNet augmentation (`TrainTransform`: random-resized crop to `files.image_size`, flip, and
    with "imagenet_jitter" colour jitter 0.4/0.4/0.4). Each image's draws come from its own seed,
    taken for the whole global batch from a generator keyed by `(seed, e, i)`: a rank decodes only
    its shard, and gets what one process would. The images arrive as uint8 NHWC on the device (the
    model normalises them); `images_at` decodes the few images a step asks for in a thread pool.

    Args:
        files: a `keras_lt.data.ImageFiles` (paths, crop size, decoding workers).
        labels: their integer labels `(N,)`.
        num_classes: number of classes.
        batch_size: images per global batch.
        sampler: "instance", "class_balanced", "inverse_frequency" or "square_root".
        augment: True or "imagenet" (crop + flip), "imagenet_jitter" (+ colour jitter), False (the
            evaluation view: resize + centre crop).
        seed: seed of the order and the augmentation.
        device: torch device; defaults to `training_device()`.

    Example:
    >>> files, labels, names = load_image_files("imagenet_lt", "train", "/data/imagenet")
    >>> batches = StreamingBatches(files, labels, len(names), batch_size=512, augment="imagenet_jitter")
    >>> trainer.fit(batches, epochs=90, shuffle=False, callbacks=[EpochSeeder(batches)])
    """

    def __init__(self, files, labels, num_classes, batch_size=128, sampler="instance", augment=True, seed=0, device=None):
        from keras_lt.data.eval_transform import EvalTransform

        if augment not in (True, False, *STREAMING_AUGMENTATIONS):
            raise ValueError(
                f"augment must be True, False or one of {', '.join(STREAMING_AUGMENTATIONS)}; got {augment!r}."
            )
        self.files = files
        super().__init__(labels, num_classes, batch_size, sampler, augment, seed, device)
        if augment:
            transform = TrainTransform(files.image_size, JITTER if augment == "imagenet_jitter" else None)
        else:
            transform = EvalTransform(files.image_size)
        self.pool = DecodePool(
            files.paths, transform, files.workers, files.shape[1:], pin_memory=self.device.type == "cuda"
        )

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        if hasattr(self, "pool"):
            self.pool.reset()
        self._order = self.order.cpu().numpy()

    def _items(self, index):
        """This rank's `(file index, seed)` items of global batch `index`."""
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.epoch, index, STREAMED_BATCH_STREAM))
        seeds = np.random.default_rng(sequence).integers(0, 2**63, len(idx))
        part = self.shard(len(idx))
        return list(zip(idx[part].tolist(), seeds[part].tolist()))

    def _items_from(self, start):
        return (self._items(index) for index in range(start, len(self)))

    def __getitem__(self, index):
        images = self.pool.batch(index, self._items_from).to(self.device, non_blocking=True)
        idx = self.batch_indices(index)
        return images, self.labels[idx[self.shard(len(idx))]]

    def on_epoch_end(self):
        self.pool.reset()

    def images_at(self, idx, generator):
        seeds = torch.randint(0, 2**62, (len(idx),), device=generator.device, generator=generator)
        items = list(zip(idx.cpu().tolist(), seeds.cpu().tolist()))
        return self.pool.decode(items).to(self.device)
