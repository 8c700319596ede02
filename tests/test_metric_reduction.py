"""`keras_lt.distributed.metric_reduction`: `MetricReduction` in one process (its sums over ranks: tests/test_distributed.py)."""

from keras_lt.distributed import MetricReduction


def test_metric_reduction_is_a_no_op_in_one_process():
    logs = {"loss": 1.5}
    MetricReduction().on_epoch_end(0, logs)
    assert logs == {"loss": 1.5}
    MetricReduction().on_epoch_end(0, None)  # no logs: nothing to update
