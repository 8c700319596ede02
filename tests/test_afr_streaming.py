"""AFR on streamed data: the memory pipeline's re-balanced set, from image files, on disk; a recipe; exact resume."""

import importlib
import json
import os
import tempfile

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from imagenet_lt_tree import TRAIN_COUNTS
from imagenet_lt_tree import write_tree
from interruption import interrupting_backup
from keras_lt import hub
from keras_lt import models
from keras_lt import training_data
from keras_lt.callbacks import Backup
from keras_lt.data import DeviceBatches
from keras_lt.data import DiskBatches
from keras_lt.data import StreamingBatches
from keras_lt.data import batch_choice
from keras_lt.data import decode_pool
from keras_lt.data import load_image_files
from keras_lt.data.eval_transform import EvalTransform
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.errors import KerasLTError
from keras_lt.recipes import Recipe
from keras_lt.trainers import STAGE2
from keras_lt.trainers import AFRTrainer
from keras_lt.trainers import stage2
from keras_lt.training import train

SIZE = 16
afr_module = importlib.import_module("keras_lt.trainers.afr")  # keras_lt.trainers.afr is the function
pytestmark = pytest.mark.usefixtures("tiny_architecture")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet_lt")
    write_tree(root)
    return str(root)


def tiny_model(tiny_architecture, seed=0):
    keras.utils.set_random_seed(seed)
    return models.build({"name": tiny_architecture, "num_classes": len(TRAIN_COUNTS), "input_shape": [SIZE, SIZE, 3]})


def train_files(tree):
    files, labels, _ = load_image_files("imagenet_lt", "train", tree, image_size=SIZE, workers=0)
    return files, labels


@pytest.fixture
def streamed_only(monkeypatch):
    """Fails on any use of the memory pipeline or loader, and records the size of every decoded batch."""

    def in_memory(*args, **kwargs):
        raise AssertionError("the training set was put in memory")

    decoded = []

    def recording(method):
        def record(self, *args):
            images = method(self, *args)
            decoded.append(len(images))
            return images

        return record

    for module in (batch_choice, afr_module):
        monkeypatch.setattr(module, "DeviceBatches", in_memory)
    monkeypatch.setattr(training_data, "load_dataset", in_memory)
    for name in ("batch", "decode"):
        monkeypatch.setattr(decode_pool.DecodePool, name, recording(getattr(decode_pool.DecodePool, name)))
    monkeypatch.setenv(WORKERS_ENV, "0")
    return decoded


def test_disk_batches_read_the_file_rows_of_the_epoch_order(tmp_path):
    labels = np.array([0, 0, 0, 0, 1, 2])
    stored = np.random.default_rng(0).integers(0, 256, (6, 5, 5, 3), dtype=np.uint8)
    batches = DiskBatches(str(tmp_path / "set.npy"), labels, 3, (5, 5, 3), batch_size=4, sampler="class_balanced",
                          augment=False, seed=3)
    assert batches[0][0].shape == (4, 5, 5, 3) and not batches[0][0].any()  # black until written (Keras' build peek)
    batches.write(6, ((slice(start, start + 4), stored[start : start + 4]) for start in (0, 4)))
    assert os.listdir(tmp_path) == ["set.npy"] and isinstance(batches.images, np.memmap)
    device = DeviceBatches(stored, labels, 3, 4, sampler="class_balanced", augment=False, seed=3)
    for epoch in (0, 2):
        batches.set_epoch(epoch)
        device.set_epoch(epoch)
        assert len(np.unique(batches.order.numpy())) < len(labels)  # draws with replacement: repeated rows
        for index in range(len(batches)):
            for ours, theirs in zip(batches[index], device[index]):
                np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    cropped = DiskBatches(batches.path, labels, 3, (5, 5, 3), batch_size=4, seed=3)
    cropped.load()
    assert cropped[1][0].shape == (2, 5, 5, 3) and cropped[1][0].dtype == torch.uint8
    np.save(tmp_path / "short.npy", stored[:5])
    with pytest.raises(KerasLTError, match="delete it to regenerate"):
        DiskBatches(str(tmp_path / "short.npy"), labels, 3, (5, 5, 3)).load()


def test_a_streamed_regeneration_is_the_memory_one_of_the_evaluation_views(tree, tmp_path, tiny_architecture):
    """Same split, draws and attacks as the memory pipeline on the decoded evaluation views; the set lands on disk."""
    files, labels = train_files(tree)
    views = np.stack([EvalTransform(SIZE)(path) for path in files.paths])  # the reference: every view, decoded
    settings = dict(attack_steps=20, attack_without_minority=True)
    memory = AFRTrainer(tiny_model(tiny_architecture), **settings)
    memory.originals = DeviceBatches(views, labels, 3, 4, seed=0)
    memory.batches = DeviceBatches(views, labels, 3, 4, seed=0)
    streamed = AFRTrainer(tiny_model(tiny_architecture), **settings)
    streamed.originals = StreamingBatches(files, labels, 3, 4, seed=0)
    streamed.batches = DiskBatches(str(tmp_path / "set.npy"), labels, 3, (SIZE, SIZE, 3), 4, seed=0)
    split = streamed.regenerate(0)
    assert split == memory.regenerate(0) and split["attacked"] > 0
    assert isinstance(streamed.batches.images, np.memmap)
    np.testing.assert_array_equal(streamed.batches.images, memory.batches.images.numpy())
    np.testing.assert_array_equal(streamed.batches.labels.numpy(), memory.batches.labels.numpy())
    assert os.listdir(tmp_path) == ["set.npy"]


def test_streamed_afr_decodes_batch_by_batch_and_resumes_exactly(
    tree, tmp_path, tiny_architecture, streamed_only, monkeypatch
):
    files, labels = train_files(tree)
    settings = dict(images=files, labels=labels, epochs=4, regenerate_every=3, batch_size=4, seed=0, verbose=0,
                    attack_steps=5, inference_batch_size=3, attack_without_minority=True)
    scratch = []
    make_directory = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: scratch.append(make_directory(*a, **k)) or scratch[-1])
    uninterrupted = STAGE2["afr"](tiny_model(tiny_architecture), **settings)  # its set in a temporary directory
    assert max(streamed_only) <= 4  # nothing decodes more than a batch (and its CutMix backgrounds)
    made = [path for path in scratch if os.path.basename(path).startswith("keras-lt-afr-")]
    assert len(made) == 1 and not os.path.exists(made[0])
    out = str(tmp_path / "run")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(stage2, "Backup", interrupting_backup(1, base=Backup))
        STAGE2["afr"](tiny_model(tiny_architecture), output_dir=out, **settings)
    saved = {"afr_rebalanced.npz", "afr_rebalanced_images.npy", "afr_split.json", "finetune_backup"}
    assert saved <= set(os.listdir(out))
    resumed = STAGE2["afr"](tiny_model(tiny_architecture), output_dir=out, **settings)  # epoch 2, inside period 0..2
    for a, b in zip(uninterrupted.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    regenerations = uninterrupted.keras_lt_config["afr"]["regenerations"]
    assert resumed.keras_lt_config["afr"]["regenerations"] == regenerations and len(regenerations) == 2
    assert regenerations[0]["attacked"] > 0
    assert sorted(os.listdir(out)) == ["afr_split.json"]


def test_a_streamed_afr_recipe_fine_tunes_a_checkpoint(tree, tmp_path, tiny_architecture, streamed_only):
    base = str(tmp_path / "cmo")
    hub.save_pretrained(tiny_model(tiny_architecture), base, class_names=["n00", "n01", "n02"],
                        train_class_counts=list(TRAIN_COUNTS), dataset={"name": "imagenet_lt"})
    recipe = Recipe(
        name="stream-afr", dataset="imagenet_lt", imbalance_factor=None, pipeline="stream", image_size=SIZE,
        architecture=tiny_architecture, init_from=base, epochs=1, batch_size=4, lr=0.01, warmup_epochs=0,
        milestones=[], factors=[], augment="imagenet",
        finetune={"method": "afr", "epochs": 2, "regenerate_every": 1, "attack_steps": 5},
    )
    out = str(tmp_path / "run")
    report = train(recipe, out, data_dir=tree, verbose=0)
    assert report["num_samples"] == 6
    with open(os.path.join(out, "afr_split.json")) as f:
        assert [r["epoch"] for r in json.load(f)["regenerations"]] == [0, 1]
    assert os.path.isfile(os.path.join(out, "model.safetensors"))
    assert not os.path.exists(os.path.join(out, "afr_rebalanced_images.npy"))
