"""The spawn keys of a run's random streams, all in one place, so that no two kinds of draws share one.

Every random draw of a run comes from `numpy.random.SeedSequence(seed, spawn_key=key)` (`seed`: the
training batches' seed, or mixup's own when it is given one). Two draws with one key are the same
numbers. NumPy reads a key as the 32-bit words of its entries (an entry of 2**32 or more takes
several), so keys differ when their word sequences do. The keys:

- `(epoch,)`: the epoch's order (`keras_lt.data.TrainingBatches.set_epoch`).
- `(epoch, batch)`: a batch's augmentation on the device (`DeviceBatches`, `DiskBatches`).
- `(epoch, batch, STREAMED_BATCH_STREAM)`: the per-image seeds of a streamed batch (`StreamingBatches`).
- `(epoch, step, stream)`, then the rank in a multi-process run: a training step's draws
  (`keras_lt.trainers.ERMTrainer.step_generators`), which draws only from the two keys one word
  longer that it spawns (torch's, NumPy's); `stream` names the part of the step: `CPMIX_STREAM`,
  `MIXUP_STREAM`, `AFR_CUTMIX_STREAM`, `CMO_STREAM`.
- `regeneration_key(epoch)`: AFR's regeneration at the start of `epoch` (draws, attack choice,
  attack head).

Why they never meet: the keys of batches and steps start with the epoch and the kinds differ in
length (1, 2 and 3 words; 4, or 5 with a rank, for a step's), and a key of draws tied to no batch
or step starts with `NOT_AN_EPOCH`, a word no epoch reaches, so no epoch, batch or step index can
give one of them. A new kind of draws takes a new stream number, or a key after `NOT_AN_EPOCH`.
"""

CPMIX_STREAM = 1
MIXUP_STREAM = 2
AFR_CUTMIX_STREAM = 3
CMO_STREAM = 5
STREAMED_BATCH_STREAM = 6
NOT_AN_EPOCH = 2**32 - 1  # the first word of the keys that no batch or step has
AFR_REGENERATION = 0  # after NOT_AN_EPOCH: which draws tied to no batch


def regeneration_key(epoch):
    """The spawn key of the draws of AFR's regeneration at the start of `epoch`.

    Args:
        epoch: the 0-based epoch of the regeneration.

    Returns:
        A tuple of ints that no batch's, streamed batch's or step's key equals.

    Example:
    >>> np.random.SeedSequence(seed, spawn_key=regeneration_key(10))
    """
    return (NOT_AN_EPOCH, AFR_REGENERATION, epoch)
