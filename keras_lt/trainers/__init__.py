"""Trainers: `keras.Model` subclasses with a custom torch `train_step`, one per method.

`TRAINERS` maps a recipe's `method` to its trainer class; `STAGE2` maps a recipe's `finetune`
method to its stage-2 pipeline, `fn(network, images=, labels=, batch_size=, seed=, callbacks=,
verbose=, output_dir=, **settings)` returning the new network (settings: the recipe's `finetune`
entries besides "method"; `output_dir` holds the stage's backup, see `stage2_callbacks`).
"""

import functools

from keras_lt.trainers.afr import AFRTrainer
from keras_lt.trainers.afr import afr
from keras_lt.trainers.cmo import CMOTrainer
from keras_lt.trainers.cpmix import CPMixTrainer
from keras_lt.trainers.cpmix import cpmix_finetune
from keras_lt.trainers.decoupled import ClassifierRetrainer
from keras_lt.trainers.decoupled import decouple
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.lcreg import LCRegTrainer
from keras_lt.trainers.mislas import MiSLASRetrainer
from keras_lt.trainers.mislas import mislas
from keras_lt.trainers.mislas import mislas_settings
from keras_lt.trainers.mixup import MixupTrainer
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.schedules import WarmupCosine
from keras_lt.trainers.schedules import WarmupMultiStep
from keras_lt.trainers.sgd import SGD
from keras_lt.trainers.stage2 import stage2_callbacks

TRAINERS = {
    "erm": ERMTrainer,
    "cpmix": CPMixTrainer,
    "mixup": MixupTrainer,
    "lcreg": LCRegTrainer,
    "cmo": CMOTrainer,
}

STAGE2 = {
    **{method: functools.partial(decouple, method=method) for method in ("crt", "lws", "tau-norm")},
    "mislas": mislas,
    "cpmix": cpmix_finetune,
    "afr": afr,
}
