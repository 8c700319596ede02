"""AFR stage 2: the threshold rule, the intra-class split, PGD, the regeneration, the pipeline, the recipes."""

import dataclasses
import importlib
import json
import os

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt import hub
from keras_lt import losses
from keras_lt import models
from keras_lt import training
from keras_lt.callbacks import Backup
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.errors import KerasLTError
from keras_lt.recipes import load_recipe
from keras_lt.trainers import STAGE2
from keras_lt.trainers import AFRTrainer
from keras_lt.trainers import stage2
from keras_lt.trainers.afr import adaptive_thresholds
from keras_lt.trainers.afr import intra_class_minority
from keras_lt.training_data import TrainingData
from interruption import interrupting_backup

COUNTS = (24, 10, 6)
TINY = "test_resnet8"  # registered by the tiny_architecture fixture (conftest.py)
pytestmark = pytest.mark.usefixtures("tiny_architecture")


def tiny_model(seed=0, num_classes=len(COUNTS)):
    keras.utils.set_random_seed(seed)
    return models.build({"name": TINY, "num_classes": num_classes})


def colour_data(counts=COUNTS, seed=0):
    """8x8 images whose dominant colour channel is the label, long-tailed."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    images = rng.integers(0, 90, (len(labels), 8, 8, 3))
    images[np.arange(len(labels)), :, :, labels] += 160
    images[:3] = 0  # black and white images: PGD must keep them in 0..255
    images[3:5] = 255
    return images.astype(np.uint8), labels


def test_threshold_rule_on_hand_built_accuracies():
    accuracy = [0.5, 0.95, 0.9, 0.7, 1.0, 0.0]
    np.testing.assert_array_equal(adaptive_thresholds(accuracy, 0.9), [0.5, 0.8, 0.8, 0.7, 0.8, 0.0])
    np.testing.assert_array_equal(adaptive_thresholds(accuracy, 0.6, majority_threshold=0.75), [0.5, 0.75, 0.75, 0.75, 0.75, 0.0])


def paper_thresholds(class_accuracy, train_accuracy, lam=0.8, level=0.6):
    """AFR section 3.3, as plain Python: once a_train reaches the level, lambda_c = a_c if a_c < a_train else lambda."""
    if level is not None and train_accuracy < level:
        return [lam] * len(class_accuracy)
    return [a if a < train_accuracy else lam for a in class_accuracy]


@pytest.mark.parametrize("train_accuracy", [0.3, 0.59, 0.6, 0.65, 0.9])
@pytest.mark.parametrize("level", [0.6, 0.7, None])
def test_adaptive_thresholds_only_from_the_papers_training_accuracy(train_accuracy, level):
    accuracy = [0.2, 0.95, 0.61, 0.7, 1.0, 0.0]
    np.testing.assert_array_equal(
        adaptive_thresholds(accuracy, train_accuracy, 0.8, level), paper_thresholds(accuracy, train_accuracy, 0.8, level)
    )
    assert adaptive_thresholds(accuracy, 0.5).tolist() == [0.8] * 6  # default gate: 60%


def test_intra_class_minority_against_numpy():
    rng = np.random.default_rng(0)
    embeddings = np.abs(rng.normal(size=(60, 5))) + rng.random((60, 1)) * np.eye(5)[rng.integers(0, 5, 60)]
    labels = rng.integers(0, 3, 60)
    means = np.stack([embeddings[labels == c].mean(0) for c in range(3)])[labels]
    cosine = (embeddings * means).sum(1) / np.linalg.norm(embeddings, axis=1) / np.linalg.norm(means, axis=1)
    for thresholds in ([0.9, 0.8, 0.95], [0.85, 0.9, 0.7], [0.95, 0.95, 0.9]):
        thresholds = np.array(thresholds)
        minority = intra_class_minority(torch.tensor(embeddings, dtype=torch.float32), torch.tensor(labels), thresholds)
        np.testing.assert_array_equal(minority.numpy(), cosine < thresholds[labels])
        assert 0 < minority.sum() < 60


def make_trainer(images, labels, seed=0, **settings):
    trainer = AFRTrainer(tiny_model(seed), **settings)
    trainer.originals = DeviceBatches(images, labels, len(COUNTS), batch_size=8, seed=seed)
    trainer.batches = DeviceBatches(images, labels, len(COUNTS), batch_size=8, seed=seed)
    return trainer


def linear_network(kernel, bias):
    """A network whose embedding ("pool") is an image's mean colour and whose logits are `mean @ kernel + bias`."""
    inputs = keras.Input((4, 4, 3))
    classifier = keras.layers.Dense(len(bias), name="classifier")
    network = keras.Model(inputs, classifier(keras.layers.GlobalAveragePooling2D(name="pool")(inputs)))
    classifier.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    return network


def numpy_logits(images, kernel, bias):
    return np.asarray(images, "float64").mean((1, 2)) @ np.asarray(kernel, "float64") + np.asarray(bias, "float64")


def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def test_training_loss_against_numpy(monkeypatch):
    """Clean samples score L(y); k = round(0.25 B) extra samples, an original with a box of x[:k], score
    lam L(y_original) + (1 - lam) L(y), lam the original's share of the pixels; the loss is the mean over B + k."""
    afr_module = importlib.import_module("keras_lt.trainers.afr")
    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(0, 0.05, (3, 3)), rng.normal(0, 0.5, 3)
    original_labels = np.repeat(np.arange(3), [12, 6, 2])
    original_images = rng.integers(0, 100, (20, 4, 4, 3)).astype(np.uint8)  # never equal to a re-balanced pixel
    x = rng.integers(150, 256, (8, 4, 4, 3)).astype(np.uint8)
    y = np.array([0, 1, 2, 2, 1, 0, 2, 1])
    trainer = AFRTrainer(linear_network(kernel, bias))
    trainer.originals = DeviceBatches(original_images, original_labels, 3, batch_size=8, augment=False, device="cpu")
    trainer.compile(loss=losses.get("ce", np.bincount(original_labels)))
    seen = {}

    def recording_cutmix(background, foreground, lam, generator):
        mixed, kept = cutmix(background, foreground, lam, generator)
        seen.update(background=background.numpy(), foreground=foreground.numpy(), mixed=mixed.numpy())
        return mixed, kept

    cutmix = afr_module.cutmix
    monkeypatch.setattr(afr_module, "cutmix", recording_cutmix)
    lams = []
    for step in range(4):
        trainer.step_key = (0, step)
        loss, logits = trainer.training_loss(torch.tensor(x), torch.tensor(y))
        k = 2  # round(0.25 * 8)
        np.testing.assert_array_equal(seen["foreground"], x[:k])
        rows = [np.flatnonzero((original_images == image).all((1, 2, 3))) for image in seen["background"]]
        assert all(len(r) == 1 for r in rows)  # backgrounds: originals, as they are (no augmentation here)
        y_original = original_labels[np.concatenate(rows)]
        mixed = seen["mixed"]
        pasted = (mixed == x[:k]).all(-1)
        assert (pasted | (mixed == seen["background"]).all(-1)).all()
        lam = 1.0 - pasted.mean((1, 2))
        lams.extend(lam)
        scores = log_softmax(numpy_logits(np.concatenate([x, mixed]), kernel, bias))
        per_sample = np.concatenate([
            -scores[np.arange(8), y],
            -lam * scores[8 + np.arange(k), y_original] - (1 - lam) * scores[8 + np.arange(k), y[:k]],
        ])
        np.testing.assert_allclose(float(loss.detach()), per_sample.mean(), rtol=1e-5)
        np.testing.assert_allclose(logits.detach().numpy(), numpy_logits(x, kernel, bias), rtol=1e-5, atol=1e-5)
    assert any(0 < lam < 1 for lam in lams)


def test_the_attack_head_starts_with_each_class_at_both_its_outputs():
    rng = np.random.default_rng(2)
    kernel, bias = rng.normal(0, 0.05, (3, 3)), rng.normal(0, 0.5, 3)
    trainer = AFRTrainer(linear_network(kernel, bias), attack_steps=0)
    embeddings = torch.tensor(rng.normal(0, 50, (12, 3)), dtype=torch.float32)
    head_kernel, head_bias = trainer.attack_head(embeddings, torch.arange(12) % 6, torch.Generator())
    assert head_kernel.shape == (3, 6) and head_bias.shape == (6,)
    for c in range(3):
        for output in (2 * c, 2 * c + 1):  # class c's majority and minority
            np.testing.assert_array_equal(head_kernel[:, output].numpy(), kernel[:, c].astype("float32"))
            assert float(head_bias[output]) == np.float32(bias[c])


def test_pgd_moves_attacked_images_towards_their_class_minority_output(monkeypatch):
    """Each attacked image targets output 2y + 1 of the attack head, whose log-probability rises."""
    afr_module = importlib.import_module("keras_lt.trainers.afr")
    rng = np.random.default_rng(3)
    kernel, bias = rng.normal(0, 0.05, (3, 3)), rng.normal(0, 0.5, 3)
    labels = np.repeat(np.arange(3), [14, 8, 6])
    images = rng.integers(20, 236, (len(labels), 4, 4, 3)).astype(np.uint8)
    trainer = AFRTrainer(linear_network(kernel, bias), attack_steps=5, attack_without_minority=True)
    trainer.originals = DeviceBatches(images, labels, 3, batch_size=8, device="cpu")
    trainer.batches = DeviceBatches(images, labels, 3, batch_size=8, device="cpu")
    heads, attacks = [], []

    def recording_head(*args):
        heads.append(attack_head(*args))
        return heads[-1]

    def recording_pgd(model, chunk, targets, *args):
        adversarial = targeted_pgd(model, chunk, targets, *args)
        attacks.append((chunk.numpy(), targets.numpy(), adversarial.numpy()))
        return adversarial

    attack_head, targeted_pgd = trainer.attack_head, afr_module.targeted_pgd
    monkeypatch.setattr(trainer, "attack_head", recording_head)
    monkeypatch.setattr(afr_module, "targeted_pgd", recording_pgd)
    split = trainer.regenerate(0)
    assert len(heads) == 1 and split["attacked"] == sum(len(targets) for _, targets, _ in attacks) > 0
    head_kernel, head_bias = (t.numpy().astype("float64") for t in heads[0])
    for chunk, targets, adversarial in attacks:
        label = [labels[np.flatnonzero((images == image).all((1, 2, 3)))[0]] for image in chunk]
        np.testing.assert_array_equal(targets, 2 * np.array(label) + 1)
        before = log_softmax(numpy_logits(chunk, head_kernel, head_bias))[np.arange(len(targets)), targets]
        after = log_softmax(numpy_logits(adversarial, head_kernel, head_bias))[np.arange(len(targets)), targets]
        assert np.all(after > before) and np.abs(adversarial.astype(int) - chunk).max() <= 3


def test_regeneration_attacks_half_the_drawn_majority_within_eps():
    images, labels = colour_data()
    # the untrained tiny model finds no minority in most classes: attack them anyway (the mechanics under test)
    trainer = make_trainer(images, labels, attack_steps=20, attack_without_minority=True)
    split = trainer.regenerate(0)
    classes = split["classes"]
    assert [c["count"] for c in classes] == list(COUNTS)
    assert all(c["minority"] + c["majority"] == c["count"] for c in classes)
    rebalanced = trainer.batches
    assert rebalanced.images.shape == (len(labels), 8, 8, 3) and rebalanced.images.dtype == torch.uint8
    # class-balanced draws: every class about a third
    shares = np.bincount(rebalanced.labels.numpy(), minlength=3) / len(labels)
    assert np.all(shares > 0.1)
    # the adversarial images are perturbed training images of their label's class, by <= 3 grey levels
    changed = 0
    for image, label in zip(rebalanced.images.numpy().astype(int), rebalanced.labels.numpy()):
        distance = np.abs(images[labels == label].astype(int) - image).max((1, 2, 3))
        assert distance.min() <= 3
        changed += distance.min() > 0
    assert changed == split["attacked"] == sum(c["attacked"] for c in classes)
    majority_share = sum(c["majority"] for c in classes) / len(labels)
    if majority_share > 0.3:
        assert 0 < split["attacked"] <= len(labels)
    again = make_trainer(images, labels, attack_steps=20, attack_without_minority=True)
    assert again.regenerate(0) == split  # keyed draws
    np.testing.assert_array_equal(again.batches.images.numpy(), rebalanced.images.numpy())


def test_a_regeneration_draws_from_none_of_the_streams_of_its_epochs_batches(monkeypatch):
    """The generators a regeneration seeds are seeded unlike any of its epoch's order and batches (both sets).

    Seeded alike, a regeneration would draw the numbers some batch's augmentation draws: its draws,
    attack choices and head would be tied to that batch's crops and flips.
    """
    seeds = []

    class RecordingGenerator(torch.Generator):
        def manual_seed(self, seed):
            seeds.append(int(seed))
            return super().manual_seed(seed)

    monkeypatch.setattr(torch, "Generator", RecordingGenerator)
    images, labels = colour_data()
    trainer = make_trainer(images, labels, attack_steps=2)
    assert len(trainer.batches) == 5  # 40 images in batches of 8
    for epoch in (0, 3):
        seeds.clear()
        trainer.regenerate(epoch)
        regeneration = set(seeds)
        seeds.clear()
        for batches in (trainer.originals, trainer.batches):
            batches.set_epoch(epoch)
            for index in range(len(batches)):
                batches[index]
        assert regeneration and len(set(seeds)) == 1 + len(trainer.batches)  # the order and each batch
        assert not regeneration & set(seeds)


def test_classes_without_a_minority_are_not_attacked(monkeypatch):
    """Class 2 gets no intra-class minority: none of its draws is attacked, unless the knob says so."""
    afr_module = importlib.import_module("keras_lt.trainers.afr")
    images, labels = colour_data()
    minority = torch.tensor(np.isin(np.arange(len(labels)), [0, 2, 5, 30, 31]) & (labels != 2))

    def fixed_split(embeddings, labels_, thresholds):
        return minority

    monkeypatch.setattr(afr_module, "intra_class_minority", fixed_split)
    attacked = {}
    for knob in (False, True):
        trainer = make_trainer(images, labels, attack_steps=5, attack_without_minority=knob)
        split = trainer.regenerate(0)
        attacked[knob] = [c["attacked"] for c in split["classes"]]
        assert [c["minority"] for c in split["classes"]] == [3, 2, 0]
    assert attacked[False][2] == 0 and attacked[True][2] > 0
    assert attacked[False][:2] == attacked[True][:2] and sum(attacked[False]) > 0  # the same draws otherwise


def test_below_the_adaptive_level_every_class_has_the_fixed_threshold():
    images, labels = colour_data()
    # 1.0: never adaptive in effect (at a_train = 1 every a_c = a_train, whose threshold is the fixed one)
    trainer = make_trainer(images, labels, attack_steps=5, adaptive_from_accuracy=1.0)
    split = trainer.regenerate(0)
    assert split["adaptive"] is False and [c["threshold"] for c in split["classes"]] == [0.8] * 3
    trainer = make_trainer(images, labels, attack_steps=5, adaptive_from_accuracy=None)
    split = trainer.regenerate(0)
    expected = paper_thresholds([c["accuracy"] for c in split["classes"]], split["train_accuracy"], level=None)
    assert split["adaptive"] is True and [c["threshold"] for c in split["classes"]] == expected


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


@pytest.mark.parametrize("setting, match", [
    ({"alpha": -1.0}, r"^AFR's alpha must be > 0, got -1.0\.$"),
    ({"cutmix_fraction": 1.5}, r"^AFR's cutmix_fraction must be in \[0, 1\], got 1.5\.$"),
    ({"adaptive_from_accuracy": 60}, r"^AFR's adaptive_from_accuracy must be in \[0, 1\], got 60\.$"),
    ({"attack_without_minority": "no"}, r"^AFR's attack_without_minority must be true or false, got 'no'\.$"),
    ({"inference_batch_size": 0}, r"^AFR's inference_batch_size must be >= 1, got 0\.$"),
])
def test_a_setting_out_of_range_is_one_line(setting, match):
    images, labels = colour_data()
    with pytest.raises(KerasLTError, match=match):
        STAGE2["afr"](tiny_model(), images=images, labels=labels, epochs=1, **setting)
    with pytest.raises(KerasLTError, match=match):
        AFRTrainer(tiny_model(), **setting)


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
