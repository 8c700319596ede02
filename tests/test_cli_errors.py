"""`keras_lt.cli.errors`: `one_line_errors` turns bad input into one `Error: ...` line, and nothing else."""

import click
import pytest
from click.testing import CliRunner

from keras_lt.cli.errors import one_line_errors
from keras_lt.errors import RANK_ERRORS_ENV
from keras_lt.errors import DataError


@click.command()
@click.argument("what")
@one_line_errors
def command(what):
    """Echoes a line, then returns, fails on bad input or hits a bug."""
    click.echo("started")
    if what == "bad-input":
        raise DataError("no images in 'photos'; add some.")
    if what == "bug":
        raise ValueError("a bug")
    return what


def test_bad_input_ends_the_command_with_one_error_line():
    result = CliRunner().invoke(command, ["bad-input"])
    assert result.exit_code == 1
    assert result.stdout == "started\n"
    assert result.stderr == "Error: no images in 'photos'; add some.\n"


def test_other_exceptions_are_not_hidden():
    result = CliRunner().invoke(command, ["bug"])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)
    with pytest.raises(ValueError, match="a bug"):
        command(["bug"], standalone_mode=False)


def test_the_wrapped_command_keeps_its_result_name_and_help():
    assert command(["fine"], standalone_mode=False) == "fine"
    assert command.callback.__name__ == "command"
    assert "Echoes a line, then returns" in CliRunner().invoke(command, ["--help"]).stdout


def test_a_launched_rank_leaves_its_error_line_to_the_launcher(tmp_path, monkeypatch):
    """Under `train --devices N` (RANK_ERRORS_ENV set) the line goes to the rank's file, not stderr."""
    monkeypatch.setenv(RANK_ERRORS_ENV, str(tmp_path))
    monkeypatch.setenv("RANK", "1")
    result = CliRunner().invoke(command, ["bad-input"])
    assert result.exit_code == 1 and result.stderr == ""
    assert (tmp_path / "1").read_text() == "no images in 'photos'; add some."
    monkeypatch.delenv("RANK")  # not a rank (a plain run beside a launched one): printed as always
    assert CliRunner().invoke(command, ["bad-input"]).stderr == "Error: no images in 'photos'; add some.\n"
