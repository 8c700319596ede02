"""AFR's settings with a range (`RANGES`) and the check of one value (`checked`).

`AFRTrainer` checks its settings with `checked` as it is built; `keras_lt.trainers.afr.check_settings`
checks a recipe's `finetune` entries, by name and value, before any training.
"""

import math
import numbers

from keras_lt.errors import KerasLTError
from keras_lt.trainers.ingredient import check_alpha

RANGES = {  # AFR's settings with a range: (type, lowest, highest), None where unbounded
    "regenerate_every": (int, 1, None),
    "cutmix_fraction": (float, 0, 1),
    "alpha": (float, None, None),  # > 0: check_alpha
    "attack_fraction": (float, 0, 1),
    "eps": (float, 0, None),
    "pgd_steps": (int, 0, None),
    "step_size": (float, 0, None),
    "majority_threshold": (float, -1, 1),
    "adaptive_from_accuracy": (float, 0, 1),  # or None: always adaptive
    "attack_without_minority": (bool, None, None),
    "attack_steps": (int, 0, None),
    "attack_lr": (float, 0, None),
    "inference_batch_size": (int, 1, None),
}


def checked(name, value):
    """`value` of AFR's setting `name` (a key of `RANGES`) as the setting's type; one `KerasLTError` line unless it fits.

    Args:
        name: the setting, e.g. "attack_fraction".
        value: its value.

    Returns:
        `value` as an int, a float or a bool (`adaptive_from_accuracy` may be None).

    Example:
    >>> checked("attack_fraction", 1)
    1.0
    >>> checked("attack_fraction", 1.5)
    KerasLTError: AFR's attack_fraction must be in [0, 1], got 1.5.
    """
    kind, low, high = RANGES[name]
    if value is None and name == "adaptive_from_accuracy":
        return None
    if kind is bool:
        if not isinstance(value, bool):
            raise KerasLTError(f"AFR's {name} must be true or false, got {value!r}.")
        return value
    if (not isinstance(value, numbers.Integral if kind is int else numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value)):
        raise KerasLTError(f"AFR's {name} must be {'an integer' if kind is int else 'a finite number'}, got {value!r}.")
    if name == "alpha":
        try:
            check_alpha(value)
        except ValueError as error:
            raise KerasLTError(f"AFR's {error}") from None
    elif value < low or (high is not None and value > high):
        raise KerasLTError(f"AFR's {name} must be {f'>= {low}' if high is None else f'in [{low}, {high}]'}, got {value!r}.")
    return kind(value)

