"""Every method and stage 2 of the zoo's recipes gives the weights pinned before methods became ingredients.

The pins (`fixtures/recipe_pins.json`, recorded by `tests/pins.py` with the code before the
refactor) are bit-exact: the SHA-256 of all checkpoint weights after a tiny run, uninterrupted and
interrupted-then-resumed in each stage. The backups in `fixtures/pin_backups` were written mid-run
by that code, and must resume to the same final weights (runs under way stay resumable).

Bit-exact pins hold on the platform they were recorded on (torch version, CPU kernel set, device:
the project's CPU machines and CI). Elsewhere those comparisons are skipped, and an interrupted and
resumed run is compared with an uninterrupted one trained in the same session instead.
"""

import json
import os
import shutil

import pytest

import pins
from keras_lt import training

pytestmark = pytest.mark.usefixtures("tiny_architecture")

with open(pins.PINS_FILE) as f:
    PINS = json.load(f)
PINNED = PINS["cases"]
ON_PINNED_PLATFORM = pins.platform() == PINS["platform"]
pinned_platform_only = pytest.mark.skipif(
    not ON_PINNED_PLATFORM,
    reason=f"the pins are bit-exact on {PINS['platform']}, this is {pins.platform()} (resumed == straight is still tested)",
)


def test_every_case_is_pinned():
    assert sorted(PINNED) == sorted(pins.CASES)


@pinned_platform_only
@pytest.mark.parametrize("case", sorted(pins.CASES))
def test_an_uninterrupted_run_gives_the_pinned_weights(tmp_path, case):
    recipe = pins.pin_recipe(case).to_dict()
    pinned_recipe = PINNED[case]["recipe"]
    assert {k: recipe.get(k) for k in pinned_recipe} == pinned_recipe  # the same recipe as when pinned
    assert pins.train_straight(case, str(tmp_path / "run")) == PINNED[case]["straight"]


@pytest.mark.parametrize("case", sorted(pins.CASES))
def test_an_interrupted_and_resumed_run_gives_the_pinned_weights(tmp_path, monkeypatch, case):
    assert PINNED[case]["resumed"] == PINNED[case]["straight"]
    straight = PINNED[case]["straight"] if ON_PINNED_PLATFORM else pins.train_straight(case, str(tmp_path / "straight"))
    assert pins.train_interrupted(case, str(tmp_path / "run"), monkeypatch) == straight


@pinned_platform_only
@pytest.mark.parametrize("case", pins.BACKUP_CASES)
def test_a_backup_written_before_the_refactor_resumes_to_the_pinned_weights(tmp_path, case):
    out = str(tmp_path / "run")
    shutil.copytree(os.path.join(pins.BACKUPS_DIR, case), out)
    with open(os.path.join(out, "recipe.json")) as f:  # the recipe JSON of the old code loads and compares equal
        assert json.load(f) == PINNED[case]["recipe"]
    training.train(pins.pin_recipe(case), out, data=pins.pin_data(), resume=True, verbose=0)
    assert pins.weights_pin(out) == PINNED[case]["straight"]
