"""AFR stage 2 in a two-process run (gloo): one re-balanced set for every rank, written once, and an exact resume.

Each case runs `keras_lt.training.train` on two ranks three times (tests/afr_distributed_worker.py):
uninterrupted, stopped after the fine-tune's first epoch (inside the first regeneration period),
and resumed. The reference is the uninterrupted run: the resumed one must fine-tune on its sets,
byte for byte on every rank, and end with its weights.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from imagenet_lt_tree import TRAIN_COUNTS
from imagenet_lt_tree import write_tree
from keras_lt import hub
from keras_lt import models
from keras_lt.callbacks.afr_regeneration import REBALANCED_IMAGES_FILE
from keras_lt.recipes import load_recipe
from tiny_run import TINY
from tiny_run import tiny_data

WORKER = os.path.join(os.path.dirname(__file__), "afr_distributed_worker.py")
FINETUNE = {"epochs": 3, "regenerate_every": 2, "attack_steps": 5, "attack_without_minority": True}
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(recipe, out, data, phase, report):
    """Runs the worker on two ranks with torchrun's environment variables; returns each rank's report."""
    port = _free_port()
    processes = []
    for rank in range(2):
        env = {**os.environ, "KERAS_LT_DIST_TIMEOUT": "300", "OMP_NUM_THREADS": "1", "RANK": str(rank),
               "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        command = [sys.executable, WORKER, recipe, out, data, phase, report]
        processes.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    errors = [p.communicate(timeout=600)[1] for p in processes]
    assert all(p.returncode == 0 for p in processes), "\n".join(e[-3000:] for e in errors)
    reports = []
    for rank in range(2):
        with open(f"{report}-rank{rank}.json") as f:
            reports.append(json.load(f))
    return reports


def _whole_cut_resumed(tmp_path, recipe, data):
    """The ranks' reports of the uninterrupted, the stopped and the resumed run, and the two run directories."""
    path = str(tmp_path / "recipe.json")
    with open(path, "w") as f:
        json.dump(recipe.to_dict(), f)
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    reports = [_run_ranks(path, run, data, phase, str(tmp_path / phase))
               for run, phase in ((whole, "whole"), (cut, "cut"), (cut, "resume"))]
    return reports, whole, cut


def _check_exact_resume(reports, whole, cut):
    (whole0, whole1), (cut0, cut1), (resumed0, resumed1) = reports
    sets = whole0["sets"]
    assert list(sets) == ["0", "1", "2"] and sets["0"] == sets["1"] != sets["2"]  # a new set at epoch 2
    assert whole1["sets"] == sets  # every rank fine-tunes on rank 0's set, byte for byte
    assert cut0["sets"] == cut1["sets"] == {"0": sets["0"]}
    assert resumed0["sets"] == resumed1["sets"] == {"1": sets["1"], "2": sets["2"]}  # the saved set, then a new one
    a, b = (load_file(os.path.join(run, "model.safetensors")) for run in (whole, cut))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    with open(os.path.join(whole, "afr_split.json")) as f, open(os.path.join(cut, "afr_split.json")) as g:
        assert json.load(f)["regenerations"] == json.load(g)["regenerations"]


def _checkpoint(path, num_classes, class_names, input_shape, **metadata):
    network = models.build({"name": TINY, "num_classes": num_classes, "input_shape": list(input_shape)})
    hub.save_pretrained(network, path, class_names=class_names, **metadata)
    return path


def test_two_processes_share_the_set_in_memory_and_resume_exactly(tmp_path):
    data = tiny_data()
    base = _checkpoint(str(tmp_path / "cmo"), 3, data.class_names, (8, 8, 3), train_class_counts=data.class_counts)
    recipe = load_recipe("afr-resnet32-cifar10lt")
    recipe = dataclasses.replace(
        recipe, name="ddp-afr", architecture=TINY, init_from=base, batch_size=8,
        finetune={**recipe.finetune, **FINETUNE, "inference_batch_size": 5},  # 24 images: chunks 5 5 | 5 5 | 4 -
    )
    reports, whole, cut = _whole_cut_resumed(tmp_path, recipe, "memory")
    _check_exact_resume(reports, whole, cut)
    assert all(not report["written"] for ranks in reports for report in ranks)


def test_two_processes_stream_one_file_that_rank_0_writes_and_resume_exactly(tmp_path):
    tree = tmp_path / "data"
    write_tree(tree)
    names = ["n00", "n01", "n02"]
    base = _checkpoint(str(tmp_path / "cmo"), 3, names, (16, 16, 3), train_class_counts=list(TRAIN_COUNTS),
                       dataset={"name": "imagenet_lt"})
    recipe = load_recipe("afr-resnet32-cifar10lt")
    recipe = dataclasses.replace(
        recipe, name="ddp-stream-afr", dataset="imagenet_lt", imbalance_factor=None, pipeline="stream",
        image_size=16, architecture=TINY, init_from=base, batch_size=4, augment="imagenet",
        finetune={**recipe.finetune, **FINETUNE, "inference_batch_size": 4},  # 11 images: chunks 4 4 | 3 -
    )
    reports, whole, cut = _whole_cut_resumed(tmp_path, recipe, str(tree))
    _check_exact_resume(reports, whole, cut)
    (whole0, whole1), (cut0, cut1), (resumed0, resumed1) = reports
    partial = os.path.join(whole, REBALANCED_IMAGES_FILE) + ".partial"
    assert whole0["written"] == [partial, partial] and not whole1["written"]  # one file a regeneration, rank 0's
    assert len(cut0["written"]) == 1 and not cut1["written"] and resumed0["written"] and not resumed1["written"]
    assert not os.path.exists(os.path.join(whole, REBALANCED_IMAGES_FILE))
