"""`keras_lt.ranges`: which values are numbers (`is_number`), which a `Range` takes, and how they are shown."""

import math
import sys

import numpy as np
import pytest

from keras_lt.ranges import Range
from keras_lt.ranges import is_number
from keras_lt.ranges import shown


def reference_is_number(value, integer):
    """A finite real of a float's range (an integer if `integer`), no bool: the definition, by cases."""
    if type(value) is bool or isinstance(value, np.bool_) or isinstance(value, (str, list, type(None))):
        return False
    if isinstance(value, (int, np.integer)):
        return abs(int(value)) <= sys.float_info.max
    return not integer and math.isfinite(float(value))


@pytest.mark.parametrize("value", [
    0, -3, 2.5, np.int64(7), np.float32(0.25), float("nan"), float("inf"), -float("inf"), True, False, np.bool_(True),
    "1", None, [1], 10**308, 10**309, -(10**400), 1e308,
])
@pytest.mark.parametrize("integer", [False, True])
def test_is_number_is_a_finite_real_within_a_floats_range(value, integer):
    assert is_number(value, integer=integer) == reference_is_number(value, integer)


@pytest.mark.parametrize("allowed, inside, outside", [
    (Range(0, 1), [0, 0.5, 1, np.float64(1.0)], [-0.01, 1.01, float("nan"), True, "0.5"]),
    (Range(0, 1, open_low=True, open_high=True), [1e-9, 0.999], [0, 1]),
    (Range(1, integer=True), [1, 10**300, np.int64(5)], [0, 2.0, 10**400, False]),
    (Range(1, zero="off"), [0, 1, 1.5, 0.0], [0.5, -1]),
])
def test_a_range_takes_its_ends_as_said_and_nothing_else(allowed, inside, outside):
    assert all(value in allowed for value in inside)
    assert not any(value in allowed for value in outside)


def test_a_range_says_what_it_takes():
    assert [str(r) for r in (Range(0, 1), Range(0, 1, open_high=True), Range(0, open_low=True),
                             Range(1, integer=True), Range(0, 255, integer=True), Range(1, zero="off"))] == [
        "a number in [0, 1]", "a number in [0, 1)", "a number > 0", "a whole number >= 1",
        "a whole number in 0..255", "0 (off) or a number >= 1",
    ]


def test_an_integer_of_hundreds_of_digits_is_shown_by_its_length():
    assert [shown(v) for v in (-1, 0.5, "x", True, 10**400, -(10**309), [3, 10**400, "a"])] == [
        "-1", "0.5", "'x'", "True", "an integer of 401 digits", "an integer of 310 digits",
        "[3, an integer of 401 digits, 'a']",
    ]
