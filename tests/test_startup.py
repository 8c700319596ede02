"""Start-up: `keras-lt --help`, `list` and `info` answer without importing torch or Keras (lazy CLI and package)."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import contextlib, io, json, sys
from keras_lt.cli.main import cli
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        cli(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps({"out": out.getvalue(), "heavy": sorted(m for m in ("torch", "keras") if m in sys.modules)}))
"""


@pytest.mark.parametrize("args", [["--help"], ["list"], ["info", "ce-resnet32-cifar10lt"], ["data", "--help"]])
def test_light_commands_import_neither_torch_nor_keras(args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [] and report["out"]


def test_the_package_loads_its_names_on_first_use():
    import keras_lt

    assert "from_pretrained" in dir(keras_lt)
    assert callable(keras_lt.from_pretrained) and list(keras_lt.data.long_tailed_counts(3, 10, 10)) == [10, 3, 1]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        keras_lt.nope  # noqa: B018


def test_a_misspelt_command_gets_a_did_you_mean():
    from click.testing import CliRunner

    from keras_lt.cli.main import cli

    result = CliRunner().invoke(cli, ["evalute"])
    assert result.exit_code != 0 and "did you mean 'evaluate'" in result.stderr
