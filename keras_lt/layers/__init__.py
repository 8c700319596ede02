"""Layers for long-tailed classification, written with `keras.ops`."""

from keras_lt.layers.batch_norm import BatchNorm
from keras_lt.layers.normed_linear import NormedLinear
from keras_lt.layers.subsample_pad import SubsamplePad
from keras_lt.layers.logit_scale import LogitScale
from keras_lt.layers.latent_categories import LatentCategoryReconstruction
