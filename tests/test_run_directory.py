"""`keras_lt.run_directory`: what a run directory's state lets a run do there (no clobbering, no mixing of runs)."""

import dataclasses

import pytest

from keras_lt import training
from keras_lt.errors import KerasLTError
from tiny_run import interrupted_run
from tiny_run import snapshot
from tiny_run import tiny_data
from tiny_run import tiny_recipe

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def test_refuses_to_overwrite_an_interrupted_run(tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    recipe = tiny_recipe(epochs=3)
    interrupted_run(monkeypatch, out, recipe)
    with pytest.raises(KerasLTError, match="interrupted run; pass --resume") as error:
        training.train(recipe, out, data=tiny_data(), verbose=0)
    assert "\n" not in str(error.value)
    with pytest.raises(KerasLTError, match=r"different recipe.*\(lr\)") as error:
        training.train(dataclasses.replace(recipe, lr=0.2), out, data=tiny_data(), resume=True, verbose=0)
    assert "\n" not in str(error.value)


def test_resume_without_backup_is_refused(tmp_path):
    with pytest.raises(KerasLTError, match="nothing to resume"):
        training.train(tiny_recipe(), str(tmp_path / "empty"), data=tiny_data(), resume=True, verbose=0)


@pytest.mark.parametrize("resume", [False, True])
def test_a_finished_run_is_never_trained_into(tmp_path, resume):
    out = tmp_path / "run"
    training.train(tiny_recipe(), str(out), data=tiny_data(), verbose=0)
    before = snapshot(out)
    for recipe in (tiny_recipe(), tiny_recipe(seed=1)):
        message = "nothing to resume" if resume else "holds a finished run"
        with pytest.raises(KerasLTError, match=message) as error:
            training.train(recipe, str(out), data=tiny_data(), resume=resume, verbose=0)
        assert "\n" not in str(error.value)
    with pytest.raises(KerasLTError, match="holds a finished run"):  # refused before the data is even read
        training.train(tiny_recipe(seed=1), str(out), data_dir=str(tmp_path / "no-data"), verbose=0)
    assert snapshot(out) == before
