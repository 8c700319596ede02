"""AFR stage 2 (`keras_lt.trainers.afr`): end to end, its settings' names, from a recipe, resuming, the recipes."""

import dataclasses
import json
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest

from afr_data import colour_data
from afr_data import tiny_model
from interruption import interrupting_backup
from keras_lt import hub
from keras_lt import training
from keras_lt.callbacks import Backup
from keras_lt.errors import KerasLTError
from keras_lt.recipes import load_recipe
from keras_lt.trainers import STAGE2
from keras_lt.trainers import stage2
from keras_lt.training_data import TrainingData
from tiny_run import TINY

pytestmark = pytest.mark.usefixtures("tiny_architecture")


def test_afr_end_to_end_on_tiny_data(tmp_path, capsys):
    images, labels = colour_data()
    network = tiny_model()
    before = [w.numpy().copy() for w in network.weights]
    history = keras.callbacks.History()
    model = STAGE2["afr"](
        network, images=images, labels=labels, epochs=3, regenerate_every=2, batch_size=8, seed=0,
        output_dir=str(tmp_path), callbacks=[history], verbose=1, attack_steps=10,
    )
    log = str(tmp_path / "afr_split.json")
    assert sorted(os.listdir(tmp_path)) == ["afr_split.json"]  # no backup, no re-balanced set left
    for w, b in zip(network.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)  # the input is untouched
    assert model is not network and model.output_shape == network.output_shape
    assert any(not np.array_equal(w.numpy(), b) for w, b in zip(model.weights, before))
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["afr_attacked"][0] == history.history["afr_attacked"][1]  # one set for epochs 0-1
    with open(log) as f:
        written = json.load(f)
    assert [r["epoch"] for r in written["regenerations"]] == [0, 2]
    assert written["settings"]["epochs"] == 3 and written["settings"]["eps"] == 0.6
    assert written["settings"]["inference_batch_size"] == 512 and "network" not in written["settings"]
    first = written["regenerations"][0]
    assert {"accuracy", "threshold", "minority", "majority", "attacked"} <= set(first["classes"][0])
    assert model.keras_lt_config["afr"]["regenerations"] == written["regenerations"]
    printed = capsys.readouterr().out
    assert "AFR split at epoch 0" in printed and "thresholds per class" in printed
    with pytest.raises(KerasLTError, match="images"):
        STAGE2["afr"](network)


def test_an_unknown_setting_is_one_line_naming_the_settings():
    images, labels = colour_data()
    with pytest.raises(KerasLTError, match=r"^AFR takes no setting atack_fraction; its settings: epochs, .*attack_fraction"):
        STAGE2["afr"](tiny_model(), images=images, labels=labels, epochs=1, atack_fraction=0.5)


def test_afr_runs_from_a_checkpoint_through_a_recipe(tmp_path):
    images, labels = colour_data()
    data = TrainingData(images, labels, images[:9], labels[:9], ["r", "g", "b"])
    base = str(tmp_path / "cmo")
    hub.save_pretrained(tiny_model(), base, class_names=data.class_names, train_class_counts=data.class_counts)
    recipe = dataclasses.replace(
        load_recipe("afr-resnet32-cifar10lt"), name="tiny-afr", architecture=TINY, init_from=base, batch_size=8,
        finetune={**load_recipe("afr-resnet32-cifar10lt").finetune, "epochs": 2, "regenerate_every": 1, "attack_steps": 5},
    )
    out = str(tmp_path / "run")
    report = training.train(recipe, out, data=data, verbose=0)
    assert report
    with open(os.path.join(out, "afr_split.json")) as f:  # in the run directory
        assert len(json.load(f)["regenerations"]) == 2
    assert os.path.isfile(os.path.join(out, "model.safetensors"))


def test_an_interrupted_afr_resumes_exactly(tmp_path, monkeypatch):
    """Stopped in the middle of a regeneration period, it continues on the saved set, not a new one."""
    images, labels = colour_data()
    settings = dict(images=images, labels=labels, epochs=4, regenerate_every=3, batch_size=8, seed=0,
                    verbose=0, attack_steps=5)
    uninterrupted = STAGE2["afr"](tiny_model(), **settings)
    out = str(tmp_path / "run")
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(stage2, "Backup", interrupting_backup(1, base=Backup))
        STAGE2["afr"](tiny_model(), output_dir=out, **settings)
    assert {"afr_rebalanced.npz", "afr_split.json", "finetune_backup"} <= set(os.listdir(out))
    resumed = STAGE2["afr"](tiny_model(), output_dir=out, **settings)  # starts at epoch 2, inside period 0..2
    for a, b in zip(uninterrupted.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert resumed.keras_lt_config["afr"]["regenerations"] == uninterrupted.keras_lt_config["afr"]["regenerations"]
    assert sorted(os.listdir(out)) == ["afr_split.json"]


@pytest.mark.parametrize("name, cmo", [("afr-resnet32-cifar10lt", "cmo-resnet32-cifar10lt"), ("afr-resnet32-cifar100lt", "cmo-resnet32-cifar100lt")])
def test_zoo_recipes_and_short30(name, cmo):
    recipe = load_recipe(name)
    assert recipe.init_from == cmo and recipe.finetune["method"] == "afr"
    settings = recipe.finetune
    assert (settings["epochs"], settings["regenerate_every"], settings["eps"], settings["pgd_steps"]) == (50, 10, 0.6, 3)
    assert (settings["attack_fraction"], settings["cutmix_fraction"], settings["step_size"]) == (0.5, 0.25, 1 / 255)
    assert (settings["majority_threshold"], settings["adaptive_from_accuracy"], settings["attack_without_minority"]) == (
        0.8, 0.6, False)
    stage1 = load_recipe(cmo)
    assert (recipe.method, recipe.method_config, recipe.loss) == (stage1.method, stage1.method_config, stage1.loss)
    short = recipe.scaled("short30")
    assert (short.finetune["epochs"], short.finetune["regenerate_every"]) == (10, 2)
    assert short.finetune["lr"] == 0.01 and recipe.finetune["epochs"] == 50
