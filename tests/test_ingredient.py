"""Tests keras_lt.trainers.ingredient: the Ingredient base's no-op hooks and recipe spec, `check_alpha`, `beta_lam`."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import numpy as np
import pytest
import torch

from keras_lt.trainers.ingredient import Ingredient
from keras_lt.trainers.ingredient import beta_lam
from keras_lt.trainers.ingredient import check_alpha


class Knobs(Ingredient):
    """An ingredient with two settings and nothing else."""

    name = "knobs"

    def __init__(self, size=1, rate=0.5):
        self.size, self.rate = size, rate

    def get_config(self):
        return {"size": self.size, "rate": self.rate}


def test_every_hook_defaults_to_nothing(tmp_path):
    ingredient = Ingredient()
    network = object()
    assert ingredient.prepare(network) is network
    assert ingredient.build(trainer=None) is None and ingredient.epoch_callbacks(trainer=None) == []
    ingredient.write_summary(str(tmp_path), ["a", "b"])
    assert list(tmp_path.iterdir()) == []
    assert (ingredient.name, ingredient.needs_training_set, ingredient.needs_features) == (None, None, False)
    assert ingredient.get_config() == {} and ingredient.spec() == {"name": None}


def test_spec_names_the_settings_and_from_config_rebuilds_them():
    knobs = Knobs(size=3)
    assert knobs.spec() == {"name": "knobs", "size": 3, "rate": 0.5}
    again = Knobs.from_config(knobs.get_config())
    assert isinstance(again, Knobs) and again.get_config() == {"size": 3, "rate": 0.5}


@pytest.mark.parametrize("alpha", [0, -1.5])
def test_alpha_must_be_a_positive_beta_parameter(alpha):
    with pytest.raises(ValueError, match=f"^alpha must be > 0, got {alpha}.$"):
        check_alpha(alpha)
    assert check_alpha(2) == 2.0 and type(check_alpha(2)) is float


def test_beta_lam_draws_one_lam_per_sample_or_one_for_the_whole_batch():
    lam = beta_lam(np.random.default_rng(5), 0.4, 6, True, torch.device("cpu"))
    assert lam.dtype == torch.float32 and lam.shape == (6,) and lam.device.type == "cpu"
    np.testing.assert_array_equal(lam.numpy(), np.random.default_rng(5).beta(0.4, 0.4, 6).astype(np.float32))
    shared = beta_lam(np.random.default_rng(5), 0.4, 6, False, "cpu")
    assert shared.shape == (6,)
    np.testing.assert_array_equal(shared.numpy(), np.full(6, np.random.default_rng(5).beta(0.4, 0.4), np.float32))
