"""Data: sources, long-tail profiles and the training pipelines (on the device, or streamed from files); names load on first use."""

from keras_lt.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "fit_image": "keras_lt.data.image_folder",
    "imbalance_factor": "keras_lt.data.profiles",
    "long_tailed_counts": "keras_lt.data.profiles",
    "long_tailed_indices": "keras_lt.data.profiles",
    "shot_groups": "keras_lt.data.profiles",
    "load_dataset": "keras_lt.data.sources",
    "load_image_files": "keras_lt.data.file_sources",
    "ImageFiles": "keras_lt.data.image_files",
    "TrainingBatches": "keras_lt.data.batches",
    "DeviceBatches": "keras_lt.data.pipeline",
    "StreamingBatches": "keras_lt.data.streaming",
    "DiskBatches": "keras_lt.data.disk_batches",
    "EvalBatches": "keras_lt.data.eval_batches",
    "training_batches": "keras_lt.data.batch_choice",
})
