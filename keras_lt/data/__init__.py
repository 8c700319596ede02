"""Data: sources, long-tail profiles and the device-resident training pipeline (names load on first use)."""

from keras_lt.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "fit_image": "keras_lt.data.image_folder",
    "imbalance_factor": "keras_lt.data.profiles",
    "long_tailed_counts": "keras_lt.data.profiles",
    "long_tailed_indices": "keras_lt.data.profiles",
    "shot_groups": "keras_lt.data.profiles",
    "load_dataset": "keras_lt.data.sources",
    "DeviceBatches": "keras_lt.data.pipeline",
})
