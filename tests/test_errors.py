"""`keras_lt.errors`: the user-facing error classes and the "did you mean" hint."""

import pytest

from keras_lt.errors import CheckpointError
from keras_lt.errors import DataError
from keras_lt.errors import KerasLTError
from keras_lt.errors import UnknownModelError
from keras_lt.errors import did_you_mean
from keras_lt.errors import name_some


@pytest.mark.parametrize(
    "name, choices, n, hint",
    [
        # difflib's ratio 2M / (len(a) + len(b)), M the matched characters; a hint from 0.6 up
        ("resnt32", ["resnet32", "resnet56"], 1, " (did you mean 'resnet32'?)"),  # 14/15 before 10/15
        ("resnt32", ["resnet56", "resnet32"], 2, " (did you mean 'resnet32' or 'resnet56'?)"),  # the closest first
        ("abcde", ["abcxy"], 1, " (did you mean 'abcxy'?)"),  # 6/10: just close enough
        ("abcde", ["abxyz"], 1, ""),  # 4/10
        (3, [30, 4], 1, " (did you mean '30'?)"),  # names compared as strings: "3" / "30" is 2/3
        ("cifar10", [], 1, ""),
    ],
)
def test_did_you_mean_offers_the_close_names(name, choices, n, hint):
    assert did_you_mean(name, choices, n=n) == hint


@pytest.mark.parametrize("error", [UnknownModelError, CheckpointError, DataError])
def test_the_specific_errors_are_keras_lt_errors_and_value_errors(error):
    assert issubclass(error, KerasLTError) and issubclass(error, ValueError)
    with pytest.raises(KerasLTError, match="^what was wrong and what to do$"):
        raise error("what was wrong and what to do")



@pytest.mark.parametrize("names, shown, text", [
    ([], 3, ""),
    (["a"], 3, "a"),
    (["a", "b", "c"], 3, "a, b, c"),
    (["a", "b", "c", "d", "e"], 3, "a, b, c and 2 more"),
    (["a", "b"], 1, "a and 1 more"),
])
def test_name_some_shows_the_first_names_and_counts_the_rest(names, shown, text):
    assert name_some(names, shown) == text
