"""Decoding image files into batches with a `torch.utils.data.DataLoader` worker pool."""

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from keras_lt.errors import DataError


class _Files(torch.utils.data.Dataset):
    """Item `(i, seed)` is `transform(paths[i], seed)`; what the DataLoader's workers run.

    A `DataError` (an unreadable file) is returned, not raised: a worker's exception reaches the
    main process with the worker's traceback in its message, and `_checked` raises it as it was.
    """

    def __init__(self, paths, transform):
        self.paths = paths
        self.transform = transform

    def __getitem__(self, item):
        index, seed = item
        try:
            return self.transform(self.paths[index], seed)
        except DataError as error:
            return error

    def __len__(self):
        return len(self.paths)


def _stack(images, image_shape):
    """The images as one uint8 NHWC tensor (none: `(0, *image_shape)`), or the first `DataError` among them."""
    error = next((image for image in images if isinstance(image, DataError)), None)
    if error is not None:
        return error
    return torch.from_numpy(np.stack(images)) if images else torch.zeros((0, *image_shape), dtype=torch.uint8)


def _checked(batch):
    """`batch`, or the `DataError` `_stack` gave instead raised (one line naming the file)."""
    if isinstance(batch, DataError):
        raise batch
    return batch


class DecodePool:
    """Decodes batches of image files in order with a DataLoader worker pool, prefetching ahead.

    A batch is a list of `(file index, seed)` items; `transform(path, seed)` turns one into a uint8
    HWC array, and a batch comes back as one uint8 NHWC tensor (pinned when `pin_memory`, so the
    copy to the GPU overlaps). `batch(index, items_from)` serves batch `index` of the sequence
    `items_from(start)` yields from `start` on: consecutive indices come from one running
    DataLoader (`workers` processes, each `prefetch` batches ahead); any other index starts a new
    one there. `decode(items)` decodes a few images now, in a thread pool (PIL releases the GIL
    while it decodes and resizes): for the images a training step asks for itself. A file the
    transform cannot read raises its one-line `DataError` from either, whichever process read it.
    An empty batch is an empty tensor of `image_shape` images (in a multi-process run, a rank's
    share of an epoch's last batch may hold no image).

    Why a DataLoader: decoding is CPU work in C that needs processes to scale, the DataLoader is
    the worker pool every PyTorch ImageNet script uses (fork, shared-memory tensors, pinning,
    prefetch), and torch is already a dependency. `benchmarks/streaming.py` measures it.

    Args:
        paths: image file paths.
        transform: a picklable `transform(path, seed)` (`TrainTransform`, `EvalTransform`).
        workers: decoding processes (0: in this process).
        image_shape: the HWC shape of the transform's images.
        pin_memory: pin the batches (for a CUDA device).
        prefetch: batches each worker prepares ahead.

    Example:
    >>> pool = DecodePool(files.paths, EvalTransform(224), workers=4, image_shape=(224, 224, 3))
    >>> first = pool.batch(0, lambda start: ([(i, 0) for i in range(b * 64, (b + 1) * 64)] for b in range(start, 10)))
    """

    def __init__(self, paths, transform, workers, image_shape, pin_memory=False, prefetch=4):
        self.files = _Files(paths, transform)
        self.workers = int(workers)
        self.stack = functools.partial(_stack, image_shape=tuple(image_shape))
        self.pin_memory = pin_memory
        self.prefetch = prefetch
        self._iterator = None
        self._next = None
        self._threads = None

    def batch(self, index, items_from):
        """Batch `index` of `items_from(index)`'s sequence, from the running loader when it is there."""
        if self._iterator is None or index != self._next:
            loader = torch.utils.data.DataLoader(
                self.files, batch_sampler=items_from(index), num_workers=self.workers, collate_fn=self.stack,
                pin_memory=self.pin_memory, prefetch_factor=self.prefetch if self.workers else None,
            )
            self._iterator = iter(loader)
        self._next = index + 1
        return _checked(next(self._iterator))

    def reset(self):
        """Stops the running loader (its workers exit); the next `batch` starts a new one."""
        self._iterator = None

    def decode(self, items):
        """The images of `items` as one uint8 NHWC tensor, decoded now by a thread pool."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=max(1, self.workers))
        return _checked(self.stack(list(self._threads.map(lambda item: self.files[item], items))))
