"""The `keras-lt` commands together: one error line for a missing or malformed checkpoint, or a missing matplotlib.

Each command's own tests are in tests/test_cli_<module>.py; the shared helpers in tests/cli_run.py.
"""

import json
import shutil
import sys

import pytest

from cli_run import assert_one_line_error
from cli_run import run
from cli_run import tiny  # noqa: F401  (a fixture)


@pytest.mark.parametrize("command", [["info"], ["predict"], ["evaluate", "--dataset", "folder"]])
def test_unknown_model_is_one_error_line(command):
    assert_one_line_error(run(*command, "no-such-model"))


MALFORMED = {
    "short class_names": lambda c: c.update(class_names=["ant"]),
    "no num_classes": lambda c: c["architecture"].pop("num_classes"),
    "1-channel input": lambda c: c["architecture"].update(input_shape=[8, 8, 1]),
    "string counts": lambda c: c.update(train_class_counts="200,50,5"),
    "huge num_classes": lambda c: c["architecture"].update(num_classes=2_000_000_000),
    "huge input": lambda c: c["architecture"].update(input_shape=[4096, 4096, 3]),
    "list recipe": lambda c: c.update(recipe=["erm"]),
    "string metric": lambda c: c.update(metrics={"top1": "n/a"}),
    "null architecture": lambda c: c.update(architecture=None),
}


@pytest.mark.parametrize("command", ["info", "predict"])
@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_checkpoint_is_one_error_line(tiny, tmp_path, command, damage):
    directory = shutil.copytree(tiny[1], tmp_path / "malformed")
    config = json.loads((directory / "config.json").read_text())
    damage(config)
    (directory / "config.json").write_text(json.dumps(config))
    assert_one_line_error(run(command, directory))


@pytest.mark.parametrize("command", [["evaluate", "no-such-model", "--plots"], ["data", "profile", ".", "--plot"]])
def test_plots_without_matplotlib_fail_before_the_work(tmp_path, monkeypatch, command):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    result = run(*command, tmp_path / "plots")
    assert_one_line_error(result)
    assert "pip install 'keras-lt[plots]'" in result.stderr and result.stdout == ""

