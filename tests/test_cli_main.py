"""`keras_lt.cli.main`: the `keras-lt` group, its lazily imported commands, help, version and unknown commands."""

from importlib.metadata import version

import pytest
from click.testing import CliRunner

from keras_lt.cli.main import COMMANDS
from keras_lt.cli.main import cli


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command_with_its_short_help_in_order(flag):
    result = invoke(flag)
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:\n", 1)[1].splitlines()
    names = [line.split()[0] for line in listed if line.startswith("  ") and not line.startswith("   ")]  # not wrapped
    assert names == list(COMMANDS)
    assert "  list      List the zoo's models: bundled, trained locally or not published." in result.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_resolves_to_its_module(name):
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: cli {name} [OPTIONS]")
    assert cli.get_command(None, name).callback.__module__ == COMMANDS[name][0]


def test_an_unknown_command_without_a_close_name_is_refused():
    result = invoke("zzzz")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: No such command 'zzzz'."
    assert cli.get_command(None, "zzzz") is None


def test_version_is_the_installed_packages():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"cli, version {version('keras-lt')}\n"
