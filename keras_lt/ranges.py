"""The numbers a setting takes: `is_number` (finite, not a bool) and `Range` (between two ends).

Recipes (`keras_lt.recipes.RANGES`), the CLI options that set them, AFR's settings and the checkpoint
check read numbers from JSON or the command line, where `true`, `NaN`, `Infinity` and integers of
any length parse: these say which of them a setting takes.
"""

import dataclasses
import math
import numbers
import sys


def is_number(value, integer=False):
    """Whether `value` is a finite real number (an integer if `integer`) within a float's range, and not a bool.

    An integer past a float's range (JSON and Python parse integers of any length) is not one: no
    setting means it, and arithmetic with floats overflows on it (`math.isfinite` does).

    Args:
        value: any object, e.g. a value parsed from JSON.
        integer: only integers.

    Example:
    >>> is_number(0.5), is_number(float("nan")), is_number(True), is_number(10**400, integer=True)
    (True, False, False, False)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real):
        return False
    if isinstance(value, numbers.Integral):
        return abs(value) <= sys.float_info.max
    return math.isfinite(value)


def shown(value):
    """`value` as an error line shows it: its `repr`, an integer of hundreds of digits as its length (in a list too).

    Example:
    >>> shown(-1), shown("2"), shown(10**400), shown([1, 10**400])
    ('-1', "'2'", 'an integer of 401 digits', '[1, an integer of 401 digits]')
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and not is_number(value):
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, list):
        return f"[{', '.join(shown(v) for v in value)}]"
    return repr(value)


@dataclasses.dataclass(frozen=True)
class Range:
    """The numbers a setting takes: from `low` up to `high` (None: no highest), always finite (`is_number`).

    Attributes:
        low: the lowest value.
        high: the highest value, or None.
        integer: whole numbers only.
        open_low: `low` itself excluded.
        open_high: `high` itself excluded.
        zero: what 0 means, where the setting also takes 0 below its range; None where it does not.

    Example:
    >>> momentum = Range(0, 1, open_high=True)
    >>> 0.5 in momentum, 1 in momentum, str(momentum)
    (True, False, 'a number in [0, 1)')
    """

    low: float
    high: float | None = None
    integer: bool = False
    open_low: bool = False
    open_high: bool = False
    zero: str | None = None

    def __contains__(self, value):
        if not is_number(value, integer=self.integer):
            return False
        if value == 0 and self.zero is not None:
            return True
        above = value > self.low or (value == self.low and not self.open_low)
        below = self.high is None or value < self.high or (value == self.high and not self.open_high)
        return above and below

    def __str__(self):
        kind = "a whole number" if self.integer else "a number"
        if self.high is not None and self.integer:
            words = f"{kind} in {self.low}..{self.high}"
        elif self.high is not None:
            ends = "(" if self.open_low else "[", ")" if self.open_high else "]"
            words = f"{kind} in {ends[0]}{self.low:g}, {self.high:g}{ends[1]}"
        else:
            words = f"{kind} {'>' if self.open_low else '>='} {self.low:g}"
        return words if self.zero is None else f"0 ({self.zero}) or {words}"
