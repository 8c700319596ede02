"""Data-parallel training with gloo on CPU: two processes against one on the same global batches."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from keras_lt.distributed import MetricReduction
from keras_lt.distributed import shard_bounds
from keras_lt.distributed import sync_batch_norm
from keras_lt.distributed.gradients import _buckets

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


@pytest.mark.parametrize("size, world", [(10, 4), (5, 2), (8, 2), (1, 3), (0, 2)])
def test_shards_are_numpy_array_split(size, world):
    expected = np.array_split(np.arange(size), world)
    for rank in range(world):
        start, stop = shard_bounds(size, rank, world)
        np.testing.assert_array_equal(np.arange(size)[start:stop], expected[rank])


def test_buckets_keep_order_and_dtype():
    tensors = [torch.zeros(100), torch.zeros(300), torch.zeros(50, dtype=torch.float64), torch.zeros(10)]
    buckets = _buckets(tensors, bucket_bytes=1600)
    assert [i for bucket in buckets for i in bucket] == [0, 1, 2, 3]
    assert buckets == [[0, 1], [2], [3]]


def test_sync_batch_norm_in_one_process_is_torch_batch_norm():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 4, 5, generator=generator, requires_grad=True)
    weight, bias = torch.rand(3, generator=generator), torch.rand(3, generator=generator)
    outputs, grads, stats = [], [], []
    for function in (torch.nn.functional.batch_norm, sync_batch_norm):
        mean, var = torch.zeros(3), torch.ones(3)
        kwargs = {"training": True} if function is torch.nn.functional.batch_norm else {}
        y = function(x, mean, var, weight, bias, momentum=0.1, eps=1e-5, **kwargs)
        (grad,) = torch.autograd.grad((y * torch.arange(y.numel()).view_as(y).sin()).sum(), x)
        outputs.append(y.detach())
        grads.append(grad)
        stats.append((mean, var))
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(stats[1], stats[0])


def test_metric_reduction_is_a_no_op_in_one_process():
    logs = {"loss": 1.5}
    MetricReduction().on_epoch_end(0, logs)
    assert logs == {"loss": 1.5}
