"""Data-parallel training with gloo on CPU: two processes against one on the same global batches.

The multi-process half of the tests of `keras_lt.distributed` (one launch of each world for all of
them): the collectives, the gradient mean and the context on every rank, then whole fits. Each
module's single-process behaviour is tested in its own file (tests/test_collectives.py, ...).
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(world, out):
    """Starts `world` ranks of the worker with torchrun's environment variables; waits for all."""
    os.makedirs(out)
    port = _free_port()
    processes = []
    for rank in range(world):
        env = {**os.environ, "KERAS_LT_DIST_TIMEOUT": "300"}
        if world > 1:
            env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(port))
        processes.append(subprocess.Popen([sys.executable, WORKER, out], env=env, stderr=subprocess.PIPE, text=True))
    errors = [p.communicate(timeout=600)[1] for p in processes]
    assert all(p.returncode == 0 for p in processes), "\n".join(e[-3000:] for e in errors)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`{(case, world, rank): state}` of one 1-process and one 2-process run of every case."""
    root = tmp_path_factory.mktemp("distributed")
    states = {}
    for world in (1, 2):
        out = str(root / f"world{world}")
        _run_ranks(world, out)
        for name in os.listdir(out):
            case, rank = name[: -len(".npz")].split("-rank")
            states[case, world, int(rank)] = dict(np.load(os.path.join(out, name)))
    return states


@pytest.mark.parametrize("world", [1, 2])
def test_collectives_and_the_gradient_mean_on_every_rank(runs, world):
    """Rank r passed r + 1 (and r + 2 rows to gather); the results are those of the whole world, on every rank."""
    total = sum(r + 1 for r in range(world))
    gathered = np.concatenate([np.arange(2 * (r + 2)).reshape(r + 2, 2) + 100 * r for r in range(world)])
    for r in range(world):
        state = runs["collectives", world, r]
        # rank, world size, is_main, is_distributed, and initialize() called again
        np.testing.assert_array_equal(state["context"], [r, world, r == 0, world > 1, world > 1])
        np.testing.assert_array_equal(state["sum"], [total, 10 * total])
        np.testing.assert_array_equal(state["gathered"], gathered)  # uneven shards: padded, then cut back
        np.testing.assert_array_equal(state["broadcast"], np.full(3, world - 1.0))  # from the last rank
        assert state["object"] == world - 1
        np.testing.assert_array_equal(state["variable_float"], np.ones((2, 2)))  # rank 0's values
        np.testing.assert_array_equal(state["variable_int"], np.ones(3))
        assert state["batch_weight"] == pytest.approx(world * (r + 1) / total)  # W n_r / sum n
        # the mean over the ranks, a missing gradient counting zeros; none on any rank stays none
        np.testing.assert_allclose(state["grad_all"], np.full((2, 3), total / world))
        np.testing.assert_allclose(state["grad_rank0"], np.full(4, 3.0 / world))
        np.testing.assert_allclose(state["grad_rank1"], np.full(5, 5.0 / world) if world > 1 else [np.nan])
        np.testing.assert_array_equal(state["grad_none"], [np.nan])


def _weights(state):
    return [state[k] for k in sorted(state, key=lambda k: (len(k), k)) if k.startswith("w")]


@pytest.mark.parametrize("case, tolerance", [("erm", 1e-6), ("syncbn", 1e-4)])
def test_two_processes_train_the_weights_of_one(runs, case, tolerance):
    one, rank0, rank1 = runs[case, 1, 0], runs[case, 2, 0], runs[case, 2, 1]
    for a, b, c in zip(_weights(one), _weights(rank0), _weights(rank1)):
        np.testing.assert_array_equal(b, c)  # the ranks agree exactly
        np.testing.assert_allclose(b, a, atol=tolerance, rtol=0)  # and with one process, to float rounding
    assert len(_weights(one)) == len(_weights(rank0)) > 0
    # the epoch metrics are those of the global epoch on every rank
    np.testing.assert_allclose(rank0["loss"], one["loss"], rtol=1e-5)
    np.testing.assert_array_equal(rank0["accuracy"], rank1["accuracy"])
    np.testing.assert_allclose(rank0["accuracy"], one["accuracy"], atol=1e-6)


def test_ranks_with_their_own_batch_norm_statistics_agree(runs):
    one, rank0, rank1 = runs["bn", 1, 0], runs["bn", 2, 0], runs["bn", 2, 1]
    for a, b, c in zip(_weights(one), _weights(rank0), _weights(rank1)):
        np.testing.assert_array_equal(b, c)  # weights and the running statistics rank 0 broadcasts
    assert not all(np.allclose(a, b, atol=1e-4) for a, b in zip(_weights(one), _weights(rank0)))  # shard statistics


def test_cpmix_confusion_is_the_sum_over_ranks(runs):
    one, rank0, rank1 = runs["cpmix", 1, 0], runs["cpmix", 2, 0], runs["cpmix", 2, 1]
    np.testing.assert_array_equal(rank0["confusion"], rank1["confusion"])
    np.testing.assert_array_equal(rank0["confusion"], one["confusion"])
    # every misclassified image of both ranks' shards is counted: (1 - accuracy) of the 29 per epoch
    misclassified = np.sum(np.round((1 - rank0["accuracy"]) * 29))
    assert rank0["confusion"].sum() == misclassified > 0
    assert np.trace(rank0["confusion"]) == 0


@pytest.mark.parametrize(
    "case, tolerance", [("erm", 1e-6), ("syncbn", 1e-4), ("bn", None), ("cpmix_mixing", None), ("lcreg", None)]
)
def test_a_rank_with_an_empty_share_of_the_last_batch_still_trains(runs, case, tolerance):
    """25 images in batches of 8: the last batch (1) leaves rank 1 nothing; it takes part in every collective.

    The weights are those of one process where the ranks see what it does (`tolerance`); per-rank
    BatchNorm statistics and CP-Mix's rank-keyed draws differ from it.
    """
    one, rank0, rank1 = (runs[f"{case}_empty_shard", world, rank] for world, rank in ((1, 0), (2, 0), (2, 1)))
    for a, b, c in zip(_weights(one), _weights(rank0), _weights(rank1)):
        np.testing.assert_array_equal(b, c)
        assert np.isfinite(b).all()
        if tolerance is not None:
            np.testing.assert_allclose(b, a, atol=tolerance, rtol=0)
    logs = sorted(key for key in rank0 if not key.startswith("w"))
    assert "loss" in logs and logs == sorted(key for key in one if not key.startswith("w"))
    for key in logs:  # loss, accuracy, the ingredients' metrics: no NaN of a mean over rank 1's 0 images
        np.testing.assert_array_equal(rank0[key], rank1[key])
        assert np.isfinite(rank0[key]).all(), key
    if tolerance is not None:
        np.testing.assert_allclose(rank0["loss"], one["loss"], rtol=1e-5)
        np.testing.assert_allclose(rank0["accuracy"], one["accuracy"], atol=1e-6)
