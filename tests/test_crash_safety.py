"""A run killed (SIGKILL) at any point resumes to the weights of an uninterrupted run, bit for bit.

The kills are injected, not timed: the child run sets `KERAS_LT_KILL_AT` (`keras_lt.kill_points`)
to a point of the backup write (`keras_lt.callbacks.Backup`), of the stage-1 -> stage-2 hand-over
or of the end of the run (`keras_lt.training.train`). The children are forked from a `forkserver`
that imported keras-lt once, so each costs its training only; the resumed runs run here.
"""

import csv
import multiprocessing
import os
import signal

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_lt import hub
from keras_lt import run_directory
from keras_lt import training
from keras_lt.kill_points import KILL_AT
from tiny_run import register
from tiny_run import tiny_data
from tiny_run import tiny_recipe

pytestmark = pytest.mark.usefixtures("tiny_architecture")

RECIPE = dict(epochs=3, finetune={"method": "crt", "epochs": 2})  # backups 1-3: stage 1; 4-5: stage 2
POINTS = [
    *(f"backup.{point}:1" for point in ("weights", "state", "renamed", "pruned")),  # the first backup
    "backup.renamed:3",  # the first one with a state to prune, before pruning
    "run.stage1_saved", "run.handed_over",  # the hand-over: stage1/ written, stage 1's backup removed
    "backup.state:4", "backup.renamed:4",  # stage 2's first backup
    "run.trained", "run.checkpointed",  # after the last epoch: before and after the checkpoint
]


def killed_run(output_dir, point):
    """The child: trains the recipe into `output_dir` until `point` kills it."""
    os.environ[KILL_AT] = point
    register()
    training.train(tiny_recipe(**RECIPE), output_dir, data=tiny_data(), verbose=0)


@pytest.fixture(scope="module")
def forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["keras_lt.training", "tiny_run"])
    return context


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The checkpoint's weights of the uninterrupted run."""
    out = str(tmp_path_factory.mktemp("straight") / "run")
    training.train(tiny_recipe(**RECIPE), out, data=tiny_data(), verbose=0)
    return load_file(os.path.join(out, hub.WEIGHTS_FILE))


def logged_epochs(path):
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_resumes_to_the_same_weights(tmp_path, forkserver, straight, point):
    out = str(tmp_path / "run")
    child = forkserver.Process(target=killed_run, args=(out, point))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL  # the point was reached
    assert run_directory.is_interrupted(out)
    training.train(tiny_recipe(**RECIPE), out, data=tiny_data(), resume=True, verbose=0)
    resumed = load_file(os.path.join(out, hub.WEIGHTS_FILE))
    assert sorted(resumed) == sorted(straight)
    for key, expected in straight.items():
        np.testing.assert_array_equal(resumed[key], expected, err_msg=key)
    assert logged_epochs(os.path.join(out, run_directory.LOG_FILE)) == [0, 1, 2]
    assert logged_epochs(os.path.join(out, run_directory.FINETUNE_LOG_FILE)) == [0, 1]
    assert not run_directory.is_interrupted(out)
