"""Epoch-driven switches (DRW, KPS gradient adjustment), the crash-safe per-epoch backup and the divergence stop."""

from keras_lt.callbacks.deferred_reweighting import DeferredReweighting
from keras_lt.callbacks.epoch_switch import EpochSwitch
from keras_lt.callbacks.gradient_adjustment import GradientAdjustment
from keras_lt.callbacks.epoch_log import EpochLog
from keras_lt.callbacks.epoch_seeder import EpochSeeder
from keras_lt.callbacks.cpmix_stage import CPMixStage
from keras_lt.callbacks.step_key import StepKey
from keras_lt.callbacks.isda_ramp import ISDARamp
from keras_lt.callbacks.cmo_window import CMOWindow
from keras_lt.callbacks.afr_regeneration import AFRRegeneration
from keras_lt.callbacks.backup import Backup
from keras_lt.callbacks.divergence import StopOnDivergence
from keras_lt.callbacks.divergence import TrainingDiverged
from keras_lt.callbacks.validation_metrics import ValidationMetrics
