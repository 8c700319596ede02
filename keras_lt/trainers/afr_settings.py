"""AFR's settings with a range (`RANGES`) and the check of one value (`checked`).

`AFRTrainer` checks its settings with `checked` as it is built; `keras_lt.trainers.afr.check_settings`
checks a recipe's `finetune` entries, by name and value, before any training.
"""

from keras_lt.errors import KerasLTError
from keras_lt.ranges import Range
from keras_lt.ranges import shown

RANGES = {  # AFR's settings with a range -> the values they take (`bool`: true or false)
    "regenerate_every": Range(1, integer=True),
    "cutmix_fraction": Range(0, 1),
    "alpha": Range(0, open_low=True),  # of Beta(alpha, alpha)
    "attack_fraction": Range(0, 1),
    "eps": Range(0),
    "pgd_steps": Range(0, integer=True),
    "step_size": Range(0),
    "majority_threshold": Range(-1, 1),
    "adaptive_from_accuracy": Range(0, 1),  # or None: always adaptive
    "attack_without_minority": bool,
    "attack_steps": Range(0, integer=True),
    "attack_lr": Range(0),
    "inference_batch_size": Range(1, integer=True),
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
    KerasLTError: AFR's attack_fraction must be a number in [0, 1], got 1.5.
    """
    allowed = RANGES[name]
    if value is None and name == "adaptive_from_accuracy":
        return None
    if allowed is bool:
        if not isinstance(value, bool):
            raise KerasLTError(f"AFR's {name} must be true or false, got {value!r}.")
        return value
    if value not in allowed:
        raise KerasLTError(f"AFR's {name} must be {allowed}, got {shown(value)}.")
    return int(value) if allowed.integer else float(value)
