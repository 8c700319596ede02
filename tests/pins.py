"""Test helper: the pinned tiny runs of every method and stage 2 the zoo's recipes use.

Each case is a zoo recipe on the tiny architecture and data (`tiny_run`), its epoch switches
scaled to 3 epochs (`Recipe.with_epochs`) and any stage 2 shortened to 2 epochs. A run's pin is the
SHA-256 of its checkpoint's float32 weights (sorted by name, concatenated) plus a few sums, so a
change in any bit of any weight changes it. Bits depend on the platform too (torch's version, the
CPU kernels it picks, the device), which the pins file records beside them (`platform`). `python tests/pins.py` records the pins of the code as
it is into `fixtures/recipe_pins.json` (and the mid-run backups of `BACKUP_CASES`); the refactor that
followed had to keep them.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file

from keras_lt.training_data import TrainingData
from tiny_run import TINY

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
PINS_FILE = os.path.join(FIXTURES, "recipe_pins.json")
BACKUPS_DIR = os.path.join(FIXTURES, "pin_backups")
EPOCHS = 3
STAGE2_EPOCHS = 2

# case -> (zoo recipe, overrides of the scaled recipe)
CASES = {
    "ce": ("ce-resnet32-cifar10lt", {}),
    "bs": ("bs-resnet32-cifar10lt", {}),
    "ldam-drw": ("ldam-drw-resnet32-cifar10lt", {}),
    "kps-ga": ("kps-resnet32-cifar10lt", {}),
    "focal": ("focal-resnet32-cifar10lt", {}),
    "cb-focal": ("cb-focal-resnet32-cifar10lt", {}),
    "la": ("la-resnet32-cifar10lt", {}),
    "mislas": ("mislas-resnet32-cifar10lt", {}),
    "mislas-shift-bn": ("mislas-resnet32-cifar100lt", {}),
    "lcreg": ("lcreg-resnet32-cifar10lt", {}),
    "cmo": ("cmo-resnet32-cifar10lt", {}),
    "cmo-afr": ("afr-resnet32-cifar10lt", {"init_from": None}),
    "cpmix": ("cpmix-resnet32-cifar10lt", {}),
    "crt": ("crt-resnext50-imagenetlt", {}),
    "lws": ("lws-resnext50-imagenetlt", {}),
    "tau-norm": ("tau-norm-resnext50-imagenetlt", {}),
}
STAGE2_OVERRIDES = {"afr": {"regenerate_every": 1, "attack_steps": 5}}
# Backups written mid-run (after epoch 0 of stage 1) by the code the pins were recorded with.
BACKUP_CASES = ("cpmix", "lcreg")
TINY_FIELDS = dict(
    architecture=TINY, dataset="cifar10", imbalance_factor=100, pipeline="memory", augment="crop_flip",
    image_size=None, batch_size=8, sync_batch_norm=False,
)


def pin_data():
    """27 long-tailed training images (14, 8 and 5 of the 3 classes) and 9 test images, 8x8, as `tiny_run.tiny_data`.

    Long-tailed, so that everything that depends on the class counts (margins, radii, re-weighting,
    CP-Mix's label weights, CMO's foregrounds, class-balanced sampling) is pinned too.
    """
    rng = np.random.default_rng(0)

    def split(labels):
        labels = np.asarray(labels, dtype="int64")
        images = rng.integers(0, 60, size=(len(labels), 8, 8, 3))
        images[np.arange(len(labels)), :, :, labels] += 180
        return images.astype("uint8"), labels

    train = np.repeat(np.arange(3), [14, 8, 5])
    return TrainingData(*split(rng.permutation(train)), *split(np.arange(9) % 3), class_names=["r", "g", "b"])


def tiny_zoo_recipe(zoo_name, name, **overrides):
    """The zoo recipe `zoo_name` in 3 epochs (stage 2: 2) on the tiny architecture, named `name`."""
    from keras_lt.recipes import load_recipe

    recipe, _ = load_recipe(zoo_name).with_epochs(EPOCHS)
    finetune = recipe.finetune
    if finetune is not None and "epochs" in finetune:
        finetune = {**finetune, "epochs": STAGE2_EPOCHS, **STAGE2_OVERRIDES.get(finetune["method"], {})}
    return dataclasses.replace(recipe, name=name, finetune=finetune, **{**TINY_FIELDS, **overrides})


def pin_recipe(case):
    """The tiny recipe of `case`: its zoo recipe in 3 epochs on the tiny architecture."""
    zoo_name, overrides = CASES[case]
    return tiny_zoo_recipe(zoo_name, f"pin-{case}", **overrides)


def weights_pin(output_dir):
    """`{"sha256", "sum", "abs_sum", "count"}` of the checkpoint's weights in `output_dir`."""
    from keras_lt import hub

    tensors = load_file(os.path.join(output_dir, hub.WEIGHTS_FILE))
    flat = np.concatenate([np.asarray(tensors[k], dtype=np.float32).ravel() for k in sorted(tensors)])
    return {
        "sha256": hashlib.sha256(flat.tobytes()).hexdigest(),
        "sum": float(flat.astype(np.float64).sum()),
        "abs_sum": float(np.abs(flat.astype(np.float64)).sum()),
        "count": int(flat.size),
    }


def platform():
    """What bit-exact weights depend on besides the code: torch's version, its CPU kernel set, the training device."""
    import torch

    from keras_lt.data.batches import training_device

    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": training_device().type,
    }


def train_straight(case, output_dir):
    """Trains `case` (a case name or a recipe) without interruption into `output_dir`; returns its pin."""
    from keras_lt import training

    recipe = pin_recipe(case) if isinstance(case, str) else case
    training.train(recipe, output_dir, data=pin_data(), verbose=0)
    return weights_pin(output_dir)


def train_interrupted(case, output_dir, patch):
    """Trains `case` (a case name or a recipe) into `output_dir` stopped after epoch 0 of stage 1 and of stage 2, each time resumed; its pin.

    `patch` is a `pytest.MonkeyPatch` (or anything with `setattr` and `undo`).
    """
    import pytest

    from interruption import interrupting_backup
    from keras_lt import callbacks as lt_callbacks
    from keras_lt import training
    from keras_lt.callbacks import Backup

    recipe = pin_recipe(case) if isinstance(case, str) else case
    patch.setattr(lt_callbacks, "Backup", interrupting_backup(0, "backup", base=Backup))
    try:
        with pytest.raises(KeyboardInterrupt):  # after stage 1's epoch 0
            training.train(recipe, output_dir, data=pin_data(), verbose=0)
        if recipe.finetune is not None and "epochs" in recipe.finetune:
            with pytest.raises(KeyboardInterrupt):  # stage 1 resumed at epoch 1; stopped after stage 2's epoch 0
                training.train(recipe, output_dir, data=pin_data(), resume=True, verbose=0)
    finally:
        patch.undo()
    training.train(recipe, output_dir, data=pin_data(), resume=True, verbose=0)
    return weights_pin(output_dir)


def record(work_dir):
    """Trains every case both ways in `work_dir` and writes the pins and the mid-run backups as fixtures."""
    import pytest

    from interruption import interrupting_backup
    from keras_lt import callbacks as lt_callbacks
    from keras_lt import run_directory
    from keras_lt import training
    from keras_lt.callbacks import Backup

    pins = {}
    for case in CASES:
        straight = train_straight(case, os.path.join(work_dir, case, "straight"))
        resumed = train_interrupted(case, os.path.join(work_dir, case, "resumed"), pytest.MonkeyPatch())
        pins[case] = {"recipe": pin_recipe(case).to_dict(), "straight": straight, "resumed": resumed}
        print(case, straight["sha256"][:16], resumed["sha256"][:16], flush=True)
    shutil.rmtree(BACKUPS_DIR, ignore_errors=True)
    for case in BACKUP_CASES:
        out = os.path.join(BACKUPS_DIR, case)
        patch = pytest.MonkeyPatch()
        patch.setattr(lt_callbacks, "Backup", interrupting_backup(0, "backup", base=Backup))
        try:
            with pytest.raises(KeyboardInterrupt):
                training.train(pin_recipe(case), out, data=pin_data(), verbose=0)
        finally:
            patch.undo()
        os.remove(os.path.join(out, run_directory.LOG_FILE))  # the test's resumed run logs afresh
    os.makedirs(FIXTURES, exist_ok=True)
    with open(PINS_FILE, "w") as f:
        json.dump({"platform": platform(), "cases": pins}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    import tempfile

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras_lt  # noqa: F401
    from tiny_run import register

    register()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KERAS_LT_CACHE"] = os.path.join(tmp, "cache")
        record(os.path.join(tmp, "runs") if len(sys.argv) < 2 else sys.argv[1])
