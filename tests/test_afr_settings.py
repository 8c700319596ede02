"""`keras_lt.trainers.afr_settings`: an AFR setting out of its range is one line, from the pipeline and the trainer."""

import pytest

from afr_data import colour_data
from afr_data import tiny_model
from keras_lt.errors import KerasLTError
from keras_lt.trainers import STAGE2
from keras_lt.trainers import AFRTrainer

pytestmark = pytest.mark.usefixtures("tiny_architecture")


@pytest.mark.parametrize("setting, match", [
    ({"alpha": -1.0}, r"^AFR's alpha must be > 0, got -1.0\.$"),
    ({"cutmix_fraction": 1.5}, r"^AFR's cutmix_fraction must be in \[0, 1\], got 1.5\.$"),
    ({"adaptive_from_accuracy": 60}, r"^AFR's adaptive_from_accuracy must be in \[0, 1\], got 60\.$"),
    ({"attack_without_minority": "no"}, r"^AFR's attack_without_minority must be true or false, got 'no'\.$"),
    ({"inference_batch_size": 0}, r"^AFR's inference_batch_size must be >= 1, got 0\.$"),
    ({"eps": float("inf")}, r"^AFR's eps must be a finite number, got inf\.$"),
    ({"attack_lr": float("nan")}, r"^AFR's attack_lr must be a finite number, got nan\.$"),
])
def test_a_setting_out_of_range_is_one_line(setting, match):
    images, labels = colour_data()
    with pytest.raises(KerasLTError, match=match):
        STAGE2["afr"](tiny_model(), images=images, labels=labels, epochs=1, **setting)
    with pytest.raises(KerasLTError, match=match):
        AFRTrainer(tiny_model(), **setting)
