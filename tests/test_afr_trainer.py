"""`keras_lt.trainers.AFRTrainer`: the CutMix loss, the attack head, PGD, the regeneration, its settings and config."""

import inspect
import json

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from afr_data import COUNTS
from afr_data import colour_data
from afr_data import tiny_model
from keras_lt import losses
from keras_lt.data.pipeline import DeviceBatches
from keras_lt.trainers import AFRTrainer
from keras_lt.trainers import afr_trainer
from keras_lt.trainers.afr_trainer import KNOBS
from test_intra_class_split import paper_thresholds

pytestmark = pytest.mark.usefixtures("tiny_architecture")


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

    cutmix = afr_trainer.cutmix
    monkeypatch.setattr(afr_trainer, "cutmix", recording_cutmix)
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

    attack_head, targeted_pgd = trainer.attack_head, afr_trainer.targeted_pgd
    monkeypatch.setattr(trainer, "attack_head", recording_head)
    monkeypatch.setattr(afr_trainer, "targeted_pgd", recording_pgd)
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
    images, labels = colour_data()
    minority = torch.tensor(np.isin(np.arange(len(labels)), [0, 2, 5, 30, 31]) & (labels != 2))

    def fixed_split(embeddings, labels_, thresholds):
        return minority

    monkeypatch.setattr(afr_trainer, "intra_class_minority", fixed_split)
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


def test_the_settings_are_the_knobs_and_round_trip_through_the_config():
    """The signature's settings are `KNOBS`, in order; `knobs()` and `get_config` carry them, `from_config` too."""
    assert list(inspect.signature(AFRTrainer.__init__).parameters)[2:-1] == list(KNOBS)
    trainer = AFRTrainer(tiny_model(), eps=0.3, pgd_steps=2, adaptive_from_accuracy=None, attack_without_minority=True)
    assert list(trainer.knobs()) == list(KNOBS) and trainer.knobs()["alpha"] == 1.0
    config = json.loads(json.dumps(trainer.get_config()))
    assert {name: config[name] for name in KNOBS} == trainer.knobs()
    rebuilt = AFRTrainer.from_config(config)
    assert rebuilt.knobs() == trainer.knobs()
    assert (rebuilt.eps, rebuilt.pgd_steps) == (0.3, 2)
    assert rebuilt.adaptive_from_accuracy is None and rebuilt.attack_without_minority is True
