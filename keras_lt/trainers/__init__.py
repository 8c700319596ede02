"""Trainers: `keras.Model` subclasses with a custom torch `train_step`, one per method."""

import functools

from keras_lt.trainers.decoupled import ClassifierRetrainer
from keras_lt.trainers.decoupled import decouple
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.schedules import WarmupCosine
from keras_lt.trainers.schedules import WarmupMultiStep
from keras_lt.trainers.sgd import SGD

TRAINERS = {"erm": ERMTrainer}

# Stage-2 pipelines a recipe's `finetune` can name: `fn(network, images=, labels=, **settings)`
# returning the new network (settings: the recipe's `finetune` entries without "method", plus
# batch_size, seed, callbacks, verbose).
STAGE2 = {method: functools.partial(decouple, method=method) for method in ("crt", "lws", "tau-norm")}

from keras_lt.trainers.cpmix import CPMixTrainer  # noqa: E402

TRAINERS["cpmix"] = CPMixTrainer

from keras_lt.trainers.lcreg import LCRegTrainer  # noqa: E402
from keras_lt.trainers.mislas import MiSLASRetrainer  # noqa: E402
from keras_lt.trainers.mislas import mislas  # noqa: E402
from keras_lt.trainers.mislas import mislas_settings  # noqa: E402
from keras_lt.trainers.mixup import MixupTrainer  # noqa: E402

TRAINERS["mixup"] = MixupTrainer
TRAINERS["lcreg"] = LCRegTrainer
STAGE2["mislas"] = mislas

from keras_lt.trainers.cmo import CMOTrainer  # noqa: E402

TRAINERS["cmo"] = CMOTrainer

from keras_lt.trainers.afr import AFRTrainer  # noqa: E402
from keras_lt.trainers.afr import afr as afr_finetune  # noqa: E402  (keeps trainers.afr the module)

STAGE2["afr"] = afr_finetune
