"""`keras-lt`: list, inspect, train, evaluate, predict with and publish long-tailed classifiers."""

import click

from keras_lt.cli.data import data
from keras_lt.cli.decouple import decouple
from keras_lt.cli.evaluate import evaluate
from keras_lt.cli.models import info
from keras_lt.cli.models import list_command
from keras_lt.cli.models import push
from keras_lt.cli.predict import predict
from keras_lt.cli.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras-lt")
def cli():
    """Long-tailed image classification with Keras 3 on PyTorch."""


for command in (list_command, info, train, evaluate, predict, decouple, push, data):
    cli.add_command(command)


if __name__ == "__main__":
    cli()
