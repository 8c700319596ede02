"""One rank of tests/test_afr_distributed.py: an AFR fine-tune run by `keras_lt.training.train`, whole, cut or resumed.

Run as `python tests/afr_distributed_worker.py RECIPE OUT DATA PHASE REPORT` with torchrun's
environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). RECIPE is a recipe file whose
`init_from` is a checkpoint; DATA is "memory" (`tiny_run.tiny_data()`, arrays) or the data
directory of a streamed recipe; PHASE is "whole", "cut" (every rank stops once the fine-tune's
first epoch is backed up, as a stop of the run would) or "resume". Writes `REPORT-rank<r>.json`:
per epoch the SHA-256 of the re-balanced set the rank fine-tunes on (images and labels), and the
`.npy` files the rank opened for writing.
"""

import hashlib
import json
import os
import sys

import numpy as np
import torch

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)

torch.set_num_threads(1)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the tests' helpers (PYTHONSAFEPATH leaves it out)

import keras  # noqa: E402

from interruption import interrupting_backup  # noqa: E402
from keras_lt import distributed  # noqa: E402
from keras_lt import training  # noqa: E402
from keras_lt.callbacks import AFRRegeneration  # noqa: E402
from keras_lt.callbacks import Backup  # noqa: E402
from keras_lt.recipes import load_recipe  # noqa: E402
from tiny_run import register  # noqa: E402
from tiny_run import tiny_data  # noqa: E402


def digest(batches):
    """SHA-256 of a re-balanced set's images and labels, as bytes."""
    hashed = hashlib.sha256(np.ascontiguousarray(keras.ops.convert_to_numpy(batches.images)).tobytes())
    hashed.update(keras.ops.convert_to_numpy(batches.labels).astype(np.int64).tobytes())
    return hashed.hexdigest()


def main(recipe_path, out, data, phase, report):
    register()
    distributed.initialize()
    sets, written = {}, []
    begin = AFRRegeneration.on_epoch_begin

    def recording_begin(self, epoch, logs=None):
        begin(self, epoch, logs)
        sets[epoch] = digest(self.trainer.batches)

    open_memmap = np.lib.format.open_memmap

    def recording_open(path, mode="r+", *args, **kwargs):
        if mode == "w+":
            written.append(str(path))
        return open_memmap(path, mode, *args, **kwargs)

    AFRRegeneration.on_epoch_begin = recording_begin
    np.lib.format.open_memmap = recording_open
    if phase == "cut":
        training.lt_callbacks.Backup = interrupting_backup(0, "finetune_backup", base=Backup)
        training.RestoreOnlyBackup = interrupting_backup(0, "finetune_backup", base=training.RestoreOnlyBackup)
    recipe = load_recipe(recipe_path)
    arguments = {"data": tiny_data()} if data == "memory" else {"data_dir": data}
    try:
        training.train(recipe, out, resume=phase == "resume", verbose=0, **arguments)
    except KeyboardInterrupt:
        assert phase == "cut"
    with open(f"{report}-rank{distributed.rank()}.json", "w") as f:
        json.dump({"sets": sets, "written": written}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
