"""Data: sources, long-tail profiles and the training pipelines (on the device, or streamed from files)."""

from keras_lt.data.profiles import imbalance_factor
from keras_lt.data.profiles import long_tailed_counts
from keras_lt.data.profiles import long_tailed_indices
from keras_lt.data.profiles import shot_groups
from keras_lt.data.sources import load_dataset
from keras_lt.data.file_sources import load_image_files
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.batches import TrainingBatches
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.data.streaming import StreamingBatches
from keras_lt.data.eval_batches import EvalBatches
from keras_lt.data.training_batches import training_batches
