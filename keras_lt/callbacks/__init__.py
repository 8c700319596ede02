"""Epoch-driven switches (DRW, KPS gradient adjustment) as Keras callbacks."""

from keras_lt.callbacks.deferred_reweighting import DeferredReweighting
from keras_lt.callbacks.epoch_switch import EpochSwitch
from keras_lt.callbacks.gradient_adjustment import GradientAdjustment
from keras_lt.callbacks.epoch_log import EpochLog
from keras_lt.callbacks.epoch_seeder import EpochSeeder
from keras_lt.callbacks.cpmix_stage import CPMixStage
