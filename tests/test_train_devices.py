"""Two ranks under torchrun (gloo): an interrupted and resumed run ends where an uninterrupted one does.

The uninterrupted run starts as `keras-lt train --devices 2`, the interrupted one and its resume as
`torchrun --nproc_per_node 2 -m keras_lt.cli.main train`: both entry points.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import load_file

from imagenet_lt_tree import write_tree
from keras_lt.cli.train import train as train_command
from keras_lt.kill_points import KILL_AT

RECIPE = {
    "name": "ddp-resume", "dataset": "imagenet_lt", "imbalance_factor": None, "pipeline": "stream", "image_size": 16,
    "architecture": "resnet10", "method": "cpmix", "loss": "balanced_softmax", "cpmix_epoch": 1, "epochs": 2,
    "batch_size": 4, "lr": 0.01, "warmup_epochs": 0, "milestones": [], "factors": [], "augment": "imagenet_jitter",
}


def _train(tmp_path, output, *extra, kill=None, torchrun=True):
    env = {**os.environ, "KERAS_LT_DIST_TIMEOUT": "300", "OMP_NUM_THREADS": "1"}
    env.pop(KILL_AT, None)
    if kill:
        env[KILL_AT] = kill
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] if torchrun else []
    command = [
        sys.executable, *launcher, "-m", "keras_lt.cli.main", "train", "--recipe", str(tmp_path / "recipe.json"),
        "--data-dir", str(tmp_path / "data"), "--output", str(tmp_path / output), "--workers", "1",
        "--sync-bn", *extra,  # SyncBatchNorm: the last batch (3) leaves one image on rank 1, too few for BN alone
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_interrupted_two_process_run_resumes_exactly(tmp_path):
    write_tree(tmp_path / "data")
    (tmp_path / "recipe.json").write_text(json.dumps(RECIPE))
    whole = _train(tmp_path, "whole", "--devices", "2", torchrun=False)
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert "checkpoint:" in whole.stdout and whole.stdout.count("top-1") == 1  # rank 0 reports, once
    cut = _train(tmp_path, "cut", kill="backup.renamed:1")  # rank 0 killed right after epoch 1's backup
    assert cut.returncode != 0 and not os.path.isfile(tmp_path / "cut" / "model.safetensors")
    resumed = _train(tmp_path, "cut", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    with open(tmp_path / "whole" / "training_confusion.json") as f, open(tmp_path / "cut" / "training_confusion.json") as g:
        assert json.load(f)["matrix"] == json.load(g)["matrix"]
    logs = [(tmp_path / run / "train_log.csv").read_text().splitlines() for run in ("whole", "cut")]
    assert len(logs[0]) == len(logs[1]) == 3
    assert [row.split(",")[1:3] for row in logs[0]] == [row.split(",")[1:3] for row in logs[1]]  # accuracy, loss


def test_devices_forwards_the_other_options(monkeypatch, tmp_path):
    calls = []
    recipe = str(tmp_path / "r.json")
    (tmp_path / "r.json").write_text(json.dumps(RECIPE))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr("keras_lt.cli.train.launch", lambda n, argv: calls.append((n, argv)) or (0, []))
    result = CliRunner().invoke(
        train_command, ["--recipe", recipe, "--devices", "3", "--sync-bn", "--workers", "2", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [(3, ["train", "--recipe", recipe, "--seed", "4", "--workers", "2", "--sync-bn"])]


def test_devices_checks_the_recipe_once_before_starting_the_ranks(monkeypatch, tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({**RECIPE, "lr": -1}))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr("keras_lt.cli.train.launch", lambda n, argv: pytest.fail("ranks started"))
    result = CliRunner().invoke(train_command, ["--recipe", str(tmp_path / "r.json"), "--devices", "2"])
    assert result.exit_code == 1
    assert result.output == "Error: recipe ddp-resume: lr must be a number > 0, not -1.\n"


def test_a_ranks_error_ends_the_run_in_its_own_line_without_torchruns_traceback(tmp_path):
    (tmp_path / "recipe.json").write_text(json.dumps(RECIPE))
    (tmp_path / "data").mkdir()  # no images: every rank stops reading the data
    failed = _train(tmp_path, "out", "--devices", "2", torchrun=False)
    assert failed.returncode == 1
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: "), failed.stderr[-3000:]  # once, not once per rank
