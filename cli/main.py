"""`keras-lt`: list, inspect, train, evaluate, predict with and publish long-tailed classifiers.

The group is lazy: a command's module (and with it torch and Keras, for the commands that need
them) is imported only when that command runs, so `keras-lt --help`, `list` and `info` start fast.
"""

import importlib

import click

from keras_lt.errors import did_you_mean

COMMANDS = {  # name: (module, attribute, the short help `keras-lt --help` shows)
    "list": ("keras_lt.cli.models", "list_command", "List the zoo's models: bundled, trained locally or not published."),
    "info": ("keras_lt.cli.models", "info", "Show a checkpoint's architecture, classes, counts, recipe and metrics."),
    "train": ("keras_lt.cli.train", "train", "Train a model from a recipe, or from an image folder alone."),
    "evaluate": ("keras_lt.cli.evaluate", "evaluate", "Evaluate MODEL on a split: top-1/5, many/medium/few, per-class, calibration."),
    "predict": ("keras_lt.cli.predict", "predict", "Predict the top-k classes of images: files, folders or the bundled samples."),
    "decouple": ("keras_lt.cli.decouple", "decouple", "Re-balance MODEL's classifier (Kang et al., 2020), evaluate it and save a new checkpoint."),
    "push": ("keras_lt.cli.models", "push", "Publish a checkpoint DIRECTORY on the Hugging Face Hub."),
    "data": ("keras_lt.cli.data", "data", "Inspect datasets."),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when the command is run.

    Example:
    >>> @click.group(cls=LazyGroup)
    ... def cli(): ...
    """

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def resolve_command(self, ctx, args):
        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            ctx.fail(f"No such command '{args[0]}'{did_you_mean(args[0], COMMANDS)}.")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras-lt")
def cli():
    """Long-tailed image classification with Keras 3 on PyTorch."""


if __name__ == "__main__":
    cli()
