"""`keras_lt.cli.decouple`: `keras-lt decouple`, its options passed to stage 2 and what it prints and saves."""

import json
import os

import numpy as np
import pytest

import keras_lt
from cli_run import assert_one_line_error
from cli_run import run
from cli_run import tiny  # noqa: F401  (a fixture)
from cli_run import write_folder

DATA = ["--dataset", "folder", "--imbalance-factor", 0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`train/<class>/` (4, 3 and 2 images) and `test/<class>/` (2 each) of the tiny model's classes, 10x10 PNGs."""
    return write_folder(tmp_path_factory.mktemp("data"), {"train": (4, 3, 2), "test": (2, 2, 2)})


def test_tau_norm_into_the_local_checkpoint_of_its_name(tiny, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    result = run("decouple", tiny[1], "--method", "tau-norm", "--tau", 0.5, "--data-dir", folder, *DATA)
    assert result.exit_code == 0, result.stderr
    output = str(tmp_path / "cache" / "checkpoints" / "tiny-tau-norm")  # MODEL-METHOD, as from_pretrained finds it
    lines = result.stdout.splitlines()
    assert lines[0] == f"decoupling {tiny[1]} with tau-norm" and lines[-1] == f"checkpoint: {output}"
    assert lines[1].startswith("samples 6  top-1 ")  # the report of the new model on test/
    before = tiny[0].get_layer("classifier")
    after = keras_lt.from_pretrained(output).get_layer("classifier")
    kernel = np.asarray(before.kernel)  # (features, classes): class j's weights are column j
    np.testing.assert_allclose(np.asarray(after.kernel), kernel / np.sqrt(np.linalg.norm(kernel, axis=0)), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(after.bias), np.zeros(3))
    with open(os.path.join(output, "config.json")) as f:
        recipe = json.load(f)["recipe"]
    assert (recipe["method"], recipe["tau"], recipe["epochs"], recipe["base_model"]) == ("tau-norm", 0.5, 0, tiny[1])


def test_crt_takes_the_given_epochs_lr_and_seed(tiny, folder, tmp_path):
    output = tmp_path / "crt"
    result = run("decouple", tiny[1], "--method", "crt", "--epochs", 1, "--lr", 0.01, "--seed", 3, "--data-dir", folder,
                 *DATA, "--output", output)
    assert result.exit_code == 0, result.stderr
    recipe = json.loads((output / "config.json").read_text())["recipe"]
    assert (recipe["method"], recipe["epochs"], recipe["lr"], recipe["seed"]) == ("crt", 1, 0.01, 3)
    assert len((output / "train_log.csv").read_text().splitlines()) == 2  # a header and the one epoch


def test_an_unknown_method_is_refused_before_loading_anything():
    result = run("decouple", "no-such-model", "--method", "mixup")
    assert result.exit_code == 2
    assert "Invalid value for '--method': 'mixup' is not one of 'crt', 'lws', 'tau-norm'." in result.stderr


@pytest.mark.parametrize("option, value, allowed", [
    ("--seed", "-1", "a whole number in 0..4294967295"),
    ("--seed", "99999999999999", "a whole number in 0..4294967295"),
    ("--imbalance-factor", "0.5", "0 (the data's own counts) or a number >= 1"),
    ("--epochs", "0", "a whole number >= 1"),
    ("--lr", "0", "a number > 0"),
])
def test_a_number_option_takes_what_trains_refuses_the_rest_before_loading_anything(option, value, allowed):
    result = run("decouple", "no-such-model", "--method", "crt", option, value)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '{option}': {value} is not {allowed}." in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_tau_that_is_not_a_finite_number_is_refused_before_loading_anything(value):
    result = run("decouple", "no-such-model", "--method", "tau-norm", "--tau", value)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '--tau': '{value}' is not a finite number." in result.stderr


def test_a_finished_decoupling_is_replaced_only_with_overwrite(tiny, folder, tmp_path):
    output = tmp_path / "tau"
    args = ("decouple", tiny[1], "--method", "tau-norm", "--data-dir", folder, *DATA, "--output", output)
    assert run(*args).exit_code == 0
    before = (output / "model.safetensors").read_bytes()
    result = run(*args, "--tau", 0.5)
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: {output} holds a finished decoupling (its checkpoint tiny-tau-norm); choose another --output, or "
        "pass --overwrite to decouple it again."
    )
    assert (output / "model.safetensors").read_bytes() == before
    assert run(*args, "--tau", 0.5, "--overwrite").exit_code == 0
    assert json.loads((output / "config.json").read_text())["recipe"]["tau"] == 0.5
