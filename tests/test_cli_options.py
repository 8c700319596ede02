"""`keras_lt.cli.options`: the option types that refuse what the recipe check refuses, and non-finite floats."""

import click
import pytest
from click.testing import CliRunner

from keras_lt.cli.options import FiniteFloat
from keras_lt.cli.options import RecipeNumber


def command(option_type):
    """A command printing its --value option, converted by `option_type`."""

    @click.command()
    @click.option("--value", type=option_type)
    def show(value):
        click.echo(repr(value))

    return show


@pytest.mark.parametrize("text, expected", [("1.5", 1.5), ("-2", -2.0), ("1e3", 1000.0)])
def test_a_finite_float_is_converted(text, expected):
    assert CliRunner().invoke(command(FiniteFloat()), ["--value", text]).output == f"{expected!r}\n"


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e309"])
def test_nan_and_infinities_are_refused(text):
    result = CliRunner().invoke(command(FiniteFloat()), ["--value", text])
    assert result.exit_code == 2
    assert f"Invalid value for '--value': '{text}' is not a finite number." in result.output


@pytest.mark.parametrize("field, text, expected", [
    ("seed", "7", 7), ("lr", "0.05", 0.05), ("imbalance_factor", "0", 0.0),
])
def test_a_recipe_number_in_its_range_is_converted_to_the_fields_type(field, text, expected):
    output = CliRunner().invoke(command(RecipeNumber(field)), ["--value", text]).output
    assert output == f"{expected!r}\n" and isinstance(eval(output), type(expected))


@pytest.mark.parametrize("field, text, allowed", [
    ("seed", "-1", "a whole number in 0..4294967295"),
    ("seed", "2.5", "a whole number in 0..4294967295"),
    ("lr", "0", "a number > 0"),
    ("lr", "nan", "a number > 0"),
    ("epochs", "abc", "a whole number >= 1"),
])
def test_a_recipe_number_out_of_its_range_says_the_range(field, text, allowed):
    result = CliRunner().invoke(command(RecipeNumber(field)), ["--value", text])
    assert result.exit_code == 2
    assert f"Invalid value for '--value': {text} is not {allowed}." in result.output


def test_an_integer_of_hundreds_of_digits_is_refused_by_its_length():
    result = CliRunner().invoke(command(RecipeNumber("epochs")), ["--value", "9" * 400])
    assert result.exit_code == 2
    assert "Invalid value for '--value': an integer of 400 digits is not a whole number >= 1." in result.output


def test_a_value_past_pythons_int_limit_is_shown_by_its_length():
    result = CliRunner().invoke(command(RecipeNumber("epochs")), ["--value", "9" * 5000])  # int() refuses > 4300 digits
    assert result.exit_code == 2
    assert f"Invalid value for '--value': {'9' * 40}... (5000 characters) is not a whole number >= 1." in result.output
