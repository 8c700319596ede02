"""Option types and options shared by the `keras-lt` commands: numbers checked as the recipes check them."""

import click

from keras_lt.ranges import is_number
from keras_lt.ranges import shown
from keras_lt.recipes import RANGES


class FiniteFloat(click.types.FloatParamType):
    """A float option that refuses `nan` and `inf`, which Python's `float` parses.

    Example:
    >>> @click.option("--scale", type=FiniteFloat())
    """

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not is_number(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


logit_adjust_option = click.option(
    "--logit-adjust", "tau", type=FiniteFloat(),
    help="Post-hoc logit adjustment: subtract TAU * log(training prior) from the logits.",
)


MAX_SHOWN = 40  # the characters of a refused option value an error line shows


class RecipeNumber(click.ParamType):
    """The type of an option that sets the recipe setting `field`: the numbers `keras_lt.recipes.RANGES` gives it.

    The option then takes what the recipe check (`keras_lt.recipes.check_numbers`) takes, and says so in
    click's error line.

    Example:
    >>> @click.option("--seed", type=RecipeNumber("seed"))
    """

    def __init__(self, field):
        self.allowed = RANGES[field]
        self.name = "integer" if self.allowed.integer else "float"

    def convert(self, value, param, ctx):
        try:
            number = (int if self.allowed.integer else float)(value)
        except (TypeError, ValueError):
            number = value
        if number not in self.allowed:
            text = str(value)
            if isinstance(number, int) and not is_number(number):
                text = shown(number)  # an integer of hundreds of digits as its length
            elif len(text) > MAX_SHOWN:  # past Python's int() limit of 4300 digits too
                text = f"{text[:MAX_SHOWN]}... ({len(text)} characters)"
            self.fail(f"{text} is not {self.allowed}.", param, ctx)
        return number
