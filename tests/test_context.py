"""`keras_lt.distributed.context`: who this process is, alone and in a group of one (several ranks: tests/test_distributed.py)."""

import pytest
import torch.distributed as dist

from keras_lt.distributed import initialize
from keras_lt.distributed import is_distributed
from keras_lt.distributed import is_main
from keras_lt.distributed import rank
from keras_lt.distributed import world_size


def identity():
    return is_distributed(), rank(), world_size(), is_main()


@pytest.mark.parametrize("world", [None, "1"])
def test_without_several_ranks_initialize_joins_nothing(monkeypatch, world):
    if world is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world)
    assert initialize() is False
    assert not dist.is_initialized()
    assert identity() == (False, 0, 1, True)


def test_a_group_of_one_is_a_single_process():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        assert dist.is_initialized() and identity() == (False, 0, 1, True)
    finally:
        dist.destroy_process_group()
