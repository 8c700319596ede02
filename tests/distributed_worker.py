"""One rank of the multi-process tests (tests/test_distributed.py): trains tiny cases, saves their state.

Run as `python tests/distributed_worker.py OUT` with torchrun's environment (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT) or without it (one process). For each case it writes
`OUT/<case>-rank<r>.npz`: the network's weights after two epochs, the epoch logs (loss, accuracy,
the ingredients' metrics), and CP-Mix's confusion matrix; first, `OUT/collectives-rank<r>.npz`: what the
collectives, `batch_weight` and `synchronize_gradients` return for rank-dependent inputs.

- "erm": a BatchNorm-free net (so shards change nothing) with ERM;
- "syncbn": ResNet-8 with SyncBatchNorm;
- "bn": ResNet-8 with per-rank BatchNorm (its running statistics follow rank 0's);
- "cpmix": the BatchNorm-free net with CP-Mix's trainer (stage 1: counting confusions);
- "cpmix_mixing": the same, mixing from the first epoch;
- "lcreg": ResNet-8 with LCReg's latent categories (reconstruction and latent ISDA).

29 images in batches of 8: the last batch of an epoch (5) splits 3 / 2 between two ranks. The
`EMPTY_SHARD_CASES` run again on 25 images, as `<case>_empty_shard`: the last batch (1) leaves rank 1
no image.
"""

import os
import sys

import numpy as np
import torch

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)

torch.set_num_threads(1)

import keras  # noqa: E402

from keras_lt import distributed  # noqa: E402
from keras_lt.callbacks import EpochSeeder  # noqa: E402
from keras_lt.data import DeviceBatches  # noqa: E402
from keras_lt.losses import get as get_loss  # noqa: E402
from keras_lt.models import cifar_resnet  # noqa: E402
from keras_lt.trainers import ConfusionPairMixing  # noqa: E402
from keras_lt.trainers import ERMTrainer  # noqa: E402
from keras_lt.trainers import LatentISDA  # noqa: E402
from keras_lt.trainers import LatentReconstruction  # noqa: E402
from keras_lt.trainers import SGD  # noqa: E402

CASES = ("erm", "syncbn", "bn", "cpmix")
EMPTY_SHARD_CASES = ("erm", "syncbn", "bn", "cpmix_mixing", "lcreg")
NUM_CLASSES, SIZE, IMAGES, BATCH, EPOCHS = 4, 8, 29, 8, 2
EMPTY_SHARD_IMAGES = 25  # a last batch of one image: nothing for rank 1


def bn_free(num_classes):
    """conv - relu - conv(stride 2) - relu - GAP - dense: no BatchNorm, so shards change nothing."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="classifier")(x))


def collectives(out):
    """Rank r's context, and the collectives of rank-dependent values: r + 1, r + 2 rows, ..."""
    r = distributed.rank()
    last = distributed.world_size() - 1
    state = {
        "context": [r, distributed.world_size(), distributed.is_main(), distributed.is_distributed(),
                    distributed.initialize()],  # initialize() a second time: a no-op
        "sum": distributed.all_reduce_sum(torch.tensor([r + 1.0, 10.0 * (r + 1)])),
        "gathered": distributed.all_gather(torch.arange(2 * (r + 2)).reshape(r + 2, 2) + 100 * r),
        "broadcast": distributed.broadcast(torch.full((3,), float(r)), source=last),
        "object": distributed.broadcast_object({"rank": r}, source=last)["rank"],
        "batch_weight": distributed.batch_weight(r + 1, torch.device("cpu")),
    }
    # two dtypes: two flat broadcasts
    variables = [keras.Variable(np.full((2, 2), r + 1.0)), keras.Variable(np.full(3, r + 1, "int32"), trainable=False)]
    distributed.broadcast_variables(variables)
    state["variable_float"], state["variable_int"] = (keras.ops.convert_to_numpy(v) for v in variables)
    # "all": a gradient on every rank; "rank0" / "rank1": only there; "none": on no rank
    shapes = {"all": (2, 3), "rank0": (4,), "rank1": (5,), "none": (1,)}
    grads = {"all": torch.full(shapes["all"], r + 1.0), "rank0": torch.full(shapes["rank0"], 3.0) if r == 0 else None,
             "rank1": torch.full(shapes["rank1"], 5.0) if r == 1 else None, "none": None}
    variables = {name: keras.Variable(np.zeros(shape, "float32")) for name, shape in shapes.items()}
    for name, variable in variables.items():
        variable.value.grad = grads[name]
    distributed.synchronize_gradients(list(variables.values()), bucket_bytes=20)  # a bucket each
    for name, variable in variables.items():
        grad = variable.value.grad
        state[f"grad_{name}"] = np.full(1, np.nan) if grad is None else grad.numpy()
    distributed.barrier()
    np.savez(os.path.join(out, f"collectives-rank{r}.npz"), **{k: np.asarray(v) for k, v in state.items()})


def run(case, out, count=IMAGES, name=None):
    """Trains `case` on `count` images; saves its state as `OUT/<name>-rank<r>.npz` (`name` defaults to `case`)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (count, SIZE, SIZE, 3), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, count)
    keras.utils.set_random_seed(0)
    if case in ("syncbn", "bn", "lcreg"):
        network = cifar_resnet(8, NUM_CLASSES, input_shape=(SIZE, SIZE, 3))
        if case == "syncbn":
            distributed.convert_sync_batch_norm(network)
    else:
        network = bn_free(NUM_CLASSES)
    regularizers = {
        "cpmix": [ConfusionPairMixing()], "cpmix_mixing": [ConfusionPairMixing(start_epoch=0)],
        "lcreg": [LatentReconstruction(4), LatentISDA()],
    }
    trainer = ERMTrainer(network, regularizers=regularizers.get(case, []))
    batches = DeviceBatches(images, labels, NUM_CLASSES, BATCH, augment=True, seed=3)
    trainer.compile(
        optimizer=SGD(0.05, momentum=0.9, weight_decay=5e-4), loss=get_loss("ce", np.bincount(labels)),
        metrics=["accuracy"],
    )
    history = trainer.fit(
        batches, epochs=EPOCHS, shuffle=False, verbose=0,
        callbacks=[distributed.MetricReduction(), EpochSeeder(batches), *trainer.epoch_callbacks()],
    )
    state = {f"w{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(trainer.network.weights)}
    state.update({key: np.asarray(values) for key, values in history.history.items()})
    if case == "cpmix":
        state["confusion"] = keras.ops.convert_to_numpy(trainer.regularizers[0].confusion)
    np.savez(os.path.join(out, f"{name or case}-rank{distributed.rank()}.npz"), **state)


if __name__ == "__main__":
    distributed.initialize()
    collectives(sys.argv[1])
    for name in CASES:
        run(name, sys.argv[1])
    for name in EMPTY_SHARD_CASES:
        run(name, sys.argv[1], EMPTY_SHARD_IMAGES, f"{name}_empty_shard")
