"""Multi-process data-parallel training with `torch.distributed` (`torchrun`): NCCL on GPUs, gloo on CPU.

One process per device. Every rank builds the same model from the same seed, draws the same
epoch order and takes its own contiguous shard of every global batch (`keras_lt.data` batches do
this by themselves); after each backward pass the gradients are all-reduced in buckets
(`synchronize_gradients`), BatchNorm buffers follow rank 0 (as `DistributedDataParallel`'s
`broadcast_buffers`) unless `SyncBatchNorm` is on, method state is summed where the method says
so (CP-Mix's confusion counts, LCReg's ISDA statistics), epoch metrics are reduced
(`MetricReduction`), and only rank 0 writes (`is_main()`).
"""

from keras_lt.distributed.collectives import all_gather
from keras_lt.distributed.collectives import all_reduce_sum
from keras_lt.distributed.collectives import barrier
from keras_lt.distributed.collectives import broadcast
from keras_lt.distributed.collectives import broadcast_object
from keras_lt.distributed.collectives import broadcast_variables
from keras_lt.distributed.context import initialize
from keras_lt.distributed.context import is_distributed
from keras_lt.distributed.context import is_main
from keras_lt.distributed.context import rank
from keras_lt.distributed.context import world_size
from keras_lt.distributed.gradients import batch_weight
from keras_lt.distributed.gradients import synchronize_gradients
from keras_lt.distributed.launch import launch
from keras_lt.distributed.metric_reduction import MetricReduction
from keras_lt.distributed.shard import shard_bounds
from keras_lt.distributed.sync_batch_norm import convert_sync_batch_norm
from keras_lt.distributed.sync_batch_norm import sync_batch_norm
