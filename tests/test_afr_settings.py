"""`keras_lt.trainers.afr_settings`: an AFR setting out of its range is one line, from the pipeline and the trainer."""

import pytest

from afr_data import colour_data
from afr_data import tiny_model
from keras_lt.errors import KerasLTError
from keras_lt.trainers import STAGE2
from keras_lt.trainers import AFRTrainer

pytestmark = pytest.mark.usefixtures("tiny_architecture")


@pytest.mark.parametrize("setting, match", [
    ({"alpha": -1.0}, r"^AFR's alpha must be a number > 0, got -1.0\.$"),
    ({"alpha": 0}, r"^AFR's alpha must be a number > 0, got 0\.$"),
    ({"cutmix_fraction": 1.5}, r"^AFR's cutmix_fraction must be a number in \[0, 1\], got 1.5\.$"),
    ({"adaptive_from_accuracy": 60}, r"^AFR's adaptive_from_accuracy must be a number in \[0, 1\], got 60\.$"),
    ({"attack_without_minority": "no"}, r"^AFR's attack_without_minority must be true or false, got 'no'\.$"),
    ({"inference_batch_size": 0}, r"^AFR's inference_batch_size must be a whole number >= 1, got 0\.$"),
    ({"pgd_steps": 2.5}, r"^AFR's pgd_steps must be a whole number >= 0, got 2.5\.$"),
    ({"eps": float("inf")}, r"^AFR's eps must be a number >= 0, got inf\.$"),
    ({"attack_lr": float("nan")}, r"^AFR's attack_lr must be a number >= 0, got nan\.$"),
    ({"majority_threshold": True}, r"^AFR's majority_threshold must be a number in \[-1, 1\], got True\.$"),
])
def test_a_setting_out_of_range_is_one_line(setting, match):
    images, labels = colour_data()
    with pytest.raises(KerasLTError, match=match):
        STAGE2["afr"](tiny_model(), images=images, labels=labels, epochs=1, **setting)
    with pytest.raises(KerasLTError, match=match):
        AFRTrainer(tiny_model(), **setting)
