"""Trainers: one `keras.Model` with a custom torch `train_step` (`ERMTrainer`), its ingredients, and the stage 2s.

A method is a batch mixer and regularisers (`keras_lt.trainers.Ingredient`): `MIXERS` and
`REGULARIZERS` map a recipe's ingredient names to their classes, and `trainer_ingredients(recipe)`
builds a recipe's (its `method`'s preset, `keras_lt.presets.PRESETS`, plus its `mixer` and
`regularizers`). `STAGE2` maps a recipe's `finetune` method to its stage-2 pipeline,
`fn(network, images=, labels=, batch_size=, seed=, callbacks=, verbose=, output_dir=, **settings)`
returning the new network (settings: the recipe's `finetune` entries besides "method"; `output_dir`
holds the stage's backup, see `stage2_callbacks`), and `stage2_settings(recipe)` gives a recipe's
pipeline and settings. `STAGE2_CHECKS` maps a method to the check of its settings' values that
needs no data (`fn(settings)`: one `KerasLTError` line for a bad value), which
`keras_lt.recipe_checks.check_recipe` runs before any training.
"""

import functools

from keras_lt.trainers.afr import afr
from keras_lt.trainers.afr import check_settings as check_afr_settings
from keras_lt.trainers.afr_trainer import AFRTrainer
from keras_lt.trainers.cmo import CMO
from keras_lt.trainers.cpmix import ConfusionPairMixing
from keras_lt.trainers.cpmix_stage2 import cpmix_finetune
from keras_lt.trainers.decoupled import ClassifierRetrainer
from keras_lt.trainers.decoupled import decouple
from keras_lt.trainers.erm import ERMTrainer
from keras_lt.trainers.ingredient import Ingredient
from keras_lt.trainers.ingredients import MIXERS
from keras_lt.trainers.ingredients import REGULARIZERS
from keras_lt.trainers.ingredients import loss_switches
from keras_lt.trainers.ingredients import make_ingredient
from keras_lt.trainers.ingredients import trainer_ingredients
from keras_lt.trainers.latent_isda import LatentISDA
from keras_lt.trainers.latent_reconstruction import LatentReconstruction
from keras_lt.trainers.mislas import MiSLASRetrainer
from keras_lt.trainers.mislas import mislas
from keras_lt.trainers.mislas import mislas_settings
from keras_lt.trainers.mixup import Mixup
from keras_lt.trainers.schedules import CosineToZero
from keras_lt.trainers.schedules import WarmupCosine
from keras_lt.trainers.schedules import WarmupMultiStep
from keras_lt.trainers.sgd import SGD
from keras_lt.trainers.stage2 import stage2_callbacks

STAGE2 = {
    **{method: functools.partial(decouple, method=method) for method in ("crt", "lws", "tau-norm")},
    "mislas": mislas,
    "cpmix": cpmix_finetune,
    "afr": afr,
}
STAGE2_CHECKS = {"afr": check_afr_settings}


def stage2_settings(recipe):
    """The recipe's stage-2 pipeline and its keyword arguments besides the data, callbacks and output."""
    settings = {"batch_size": recipe.batch_size, "seed": recipe.seed, **recipe.finetune}
    return STAGE2[settings.pop("method")], settings
