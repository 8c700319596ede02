"""The streaming pipeline: same order and samplers as on the device, rank shards, methods and one epoch of training."""

import json
import os

import numpy as np
import pytest
import torch

from imagenet_lt_tree import TEST_PER_CLASS
from imagenet_lt_tree import TRAIN_COUNTS
from imagenet_lt_tree import write_tree
from keras_lt.data import DeviceBatches
from keras_lt.data import StreamingBatches
from keras_lt.data import load_image_files
from keras_lt.data.eval_transform import EvalTransform
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.data.samplers import SAMPLERS
from keras_lt.recipes import Recipe
from keras_lt.training import train


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("imagenet_lt")
    write_tree(root)
    return str(root)


def _files(tree, split="train", workers=0):
    return load_image_files("imagenet_lt", split, tree, image_size=16, workers=workers)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_order_and_samplers_are_the_device_pipelines(tree, sampler):
    files, labels, _ = _files(tree)
    streaming = StreamingBatches(files, labels, 3, 4, sampler=sampler, seed=5)
    device = DeviceBatches(np.zeros((len(labels), 2, 2, 3), np.uint8), labels, 3, 4, sampler=sampler, seed=5)
    for epoch in (0, 3):
        streaming.set_epoch(epoch)
        device.set_epoch(epoch)
        torch.testing.assert_close(streaming.order, device.order)
        for index in range(len(device)):
            torch.testing.assert_close(streaming[index][1], device[index][1])


def test_batches_are_seeded_by_epoch_not_by_workers_or_history(tree):
    files, labels, _ = _files(tree)
    one = StreamingBatches(files, labels, 3, 4, augment="imagenet_jitter", seed=1)
    pooled = StreamingBatches(_files(tree, workers=2)[0], labels, 3, 4, augment="imagenet_jitter", seed=1)
    one.set_epoch(2)
    pooled.set_epoch(2)
    second = pooled[1][0]  # out of order: starts its loader at batch 1
    first = [pooled[0][0], pooled[1][0], pooled[2][0]]
    expected = [one[i][0] for i in range(3)]
    assert [x.shape for x in expected] == [(4, 16, 16, 3), (4, 16, 16, 3), (3, 16, 16, 3)]
    assert expected[0].dtype == torch.uint8
    for a, b in zip(first, expected):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(second, expected[1])
    one.set_epoch(3)
    assert not torch.equal(one[0][0], expected[0])


def test_rank_shards_make_up_the_global_batch(tree):
    files, labels, _ = _files(tree)
    single = StreamingBatches(files, labels, 3, 4, sampler="square_root", seed=2)
    ranks = []
    for rank in range(2):
        batches = StreamingBatches(files, labels, 3, 4, sampler="square_root", seed=2)
        batches.rank, batches.world_size = rank, 2
        ranks.append(batches)
    for index in range(len(single)):
        images, targets = single[index]
        shards = [batches[index] for batches in ranks]
        torch.testing.assert_close(torch.cat([s[0] for s in shards]), images)
        torch.testing.assert_close(torch.cat([s[1] for s in shards]), targets)
    assert [len(batches[2][1]) for batches in ranks] == [2, 1]  # the last batch (3) splits 2 / 1


def test_images_at_decodes_the_requested_images(tree):
    files, labels, _ = _files(tree)
    batches = StreamingBatches(files, labels, 3, 4, augment=False)
    idx = torch.tensor([9, 0, 9])
    images = batches.images_at(idx, torch.Generator().manual_seed(0))
    expected = [EvalTransform(16)(files.paths[i]) for i in (9, 0, 9)]
    np.testing.assert_array_equal(images.numpy(), np.stack(expected))


RECIPES = {
    "bs-crt": dict(loss="balanced_softmax", finetune={"method": "crt", "epochs": 1, "lr": 0.01}),
    "cpmix": dict(method="cpmix", loss="balanced_softmax", cpmix_epoch=0, sampler="class_balanced",
                  finetune={"method": "cpmix", "epochs": 1}),
    "cmo": dict(method="cmo", loss="balanced_softmax", method_config={"window": [0, 0], "probability": 1.0}),
    "lcreg": dict(method="lcreg", method_config={"latent_categories": 4}, augment="imagenet_jitter",
                  finetune={"method": "mislas", "epochs": 1, "eps_head": 0.3, "eps_tail": 0.0, "lr_factor": 0.5}),
}


@pytest.mark.parametrize("name", RECIPES)
def test_one_epoch_of_each_method_through_the_streaming_pipeline(tree, tmp_path, tiny_architecture, name, monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "0")  # decoding in the test process: no worker start-up per epoch
    recipe = Recipe(
        name=f"stream-{name}", dataset="imagenet_lt", imbalance_factor=None, pipeline="stream", image_size=16,
        architecture=tiny_architecture, epochs=1, batch_size=4, lr=0.01, warmup_epochs=0, milestones=[],
        factors=[], **{"augment": "imagenet", **RECIPES[name]},
    )
    report = train(recipe, str(tmp_path / name), data_dir=tree, verbose=0)
    assert report["num_samples"] == 3 * TEST_PER_CLASS
    with open(tmp_path / name / "config.json") as f:
        config = json.load(f)
    assert config["train_class_counts"] == list(TRAIN_COUNTS)
    assert config["architecture"]["input_shape"] == [16, 16, 3]
    assert os.path.isfile(tmp_path / name / "model.safetensors")
    if name == "cpmix":  # the confusion pairs came from the streamed batches: all 11 images, once
        with open(tmp_path / name / "training_confusion.json") as f:
            assert np.sum(json.load(f)["matrix"]) <= sum(TRAIN_COUNTS)
