"""Data: sources, long-tail profiles and the device-resident training pipeline."""

from keras_lt.data.profiles import imbalance_factor
from keras_lt.data.profiles import long_tailed_counts
from keras_lt.data.profiles import long_tailed_indices
from keras_lt.data.profiles import shot_groups
from keras_lt.data.sources import load_dataset
from keras_lt.data.pipeline import DeviceBatches
