"""`keras_lt.cli.checkpoint`: checkpoints as `predict` and `evaluate` load them, training counts, adjusted logits."""

import numpy as np
import pytest

import keras_lt
from cli_run import CLASSES
from cli_run import TRAIN_COUNTS
from cli_run import run
from cli_run import tiny  # noqa: F401  (a fixture)
from keras_lt.cli import checkpoint
from keras_lt.errors import CheckpointError

LOGITS = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])


@pytest.fixture(scope="module")
def loaded(tiny):
    """The tiny checkpoint as loaded: (model, directory)."""
    return checkpoint.load_model(tiny[1])[0], tiny[1]


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A checkpoint of a 8x12 input without class names or training counts, as loaded: (model, directory)."""
    directory = str(tmp_path_factory.mktemp("checkpoints") / "bare")
    keras_lt.save_pretrained(keras_lt.models.resnet32(3, input_shape=(8, 12, 3)), directory)
    return checkpoint.load_model(directory)[0], directory


def test_load_model_gives_the_network_its_class_names_and_input_size(tiny):
    model, names, size = checkpoint.load_model(tiny[1])
    assert names == CLASSES and size == (8, 8)
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("uint8")
    expected = tiny[0].predict(images, verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_load_model_names_the_classes_by_id_without_names(bare):
    _, names, size = checkpoint.load_model(bare[1])
    assert names == ["0", "1", "2"] and size == (8, 12)


def test_train_counts_or_one_line_naming_the_purpose(loaded, bare):
    assert checkpoint.train_counts(*loaded, "unused") == TRAIN_COUNTS
    with pytest.raises(CheckpointError) as error:
        checkpoint.train_counts(bare[0], "runs/bare", "they define many/medium/few")
    assert str(error.value) == (
        "runs/bare has no train_class_counts (they define many/medium/few); save it with "
        "keras_lt.save_pretrained(..., train_class_counts=COUNTS)."
    )


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_adjusted_logits_subtract_tau_log_prior(loaded, tau):
    prior = np.array(TRAIN_COUNTS) / np.sum(TRAIN_COUNTS)
    adjusted = checkpoint.adjusted_logits(*loaded, LOGITS, tau)
    np.testing.assert_allclose(adjusted, LOGITS - tau * np.log(prior)[None], rtol=1e-6)  # a float32 log prior


def test_adjusted_logits_without_tau_are_the_logits(bare):
    assert checkpoint.adjusted_logits(*bare, LOGITS, None) is LOGITS  # no counts needed


def test_adjusted_logits_without_training_counts_name_logit_adjust(bare):
    with pytest.raises(CheckpointError, match=r"has no train_class_counts \(--logit-adjust needs the training prior\)"):
        checkpoint.adjusted_logits(*bare, LOGITS, 1.0)


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("tau", ["nan", "inf", "-inf"])
def test_logit_adjust_must_be_a_finite_number(tiny, command, tau):
    result = run(command, tiny[1], "--logit-adjust", tau)  # not "airplane nan%"
    assert result.exit_code == 2 and not result.stdout
    assert f"Error: Invalid value for '--logit-adjust': '{tau}' is not a finite number." in result.stderr


@pytest.mark.parametrize("loss, noted", [("bs", True), ("logit_adjusted", True), ("ce", False), ("ldam", False)])
def test_adjusting_a_model_trained_to_discount_the_prior_says_it_does_so_twice(loaded, capsys, loss, noted):
    model, directory = loaded
    recipe = model.keras_lt_config.get("recipe")
    model.keras_lt_config["recipe"] = {**(recipe or {}), "loss": loss}
    try:
        checkpoint.adjusted_logits(model, directory, LOGITS, 1.0)
    finally:
        model.keras_lt_config["recipe"] = recipe
    note = f"note: {directory} was trained with the {loss} loss, which already adjusts for the training prior; "
    assert capsys.readouterr().err == (note + "--logit-adjust discounts it a second time.\n" if noted else "")
