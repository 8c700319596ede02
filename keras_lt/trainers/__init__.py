"""Trainers: `keras.Model` subclasses with a custom torch `train_step`, one per method."""

from keras_lt.trainers.decoupled import ClassifierRetrainer
from keras_lt.trainers.decoupled import decouple
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.schedules import WarmupCosine
from keras_lt.trainers.schedules import WarmupMultiStep
from keras_lt.trainers.sgd import SGD

TRAINERS = {"erm": ERMTrainer}

from keras_lt.trainers.cpmix import CPMixTrainer  # noqa: E402

TRAINERS["cpmix"] = CPMixTrainer
