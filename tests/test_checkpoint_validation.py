"""`check_config` and `check_weights`: a checkpoint checked field by field before a model is built."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_lt.checkpoint_validation import check_config
from keras_lt.checkpoint_validation import check_weights
from keras_lt.errors import CheckpointError

CONFIG = {
    "name": "tiny",
    "architecture": {"name": "resnet32", "num_classes": 3, "input_shape": [32, 32, 3], "mean": [0.5] * 3,
                     "std": [0.25] * 3, "latent_categories": 4},
    "num_classes": 3,
    "class_names": ["a", "b", "c"],
    "train_class_counts": [10, 5, 1],
    "metrics": {"top1": 50.0, "num_samples": 9, "group_sizes": {"many": 1}},
    "recipe": None,
}


def test_a_valid_config_passes_and_optional_fields_may_be_empty():
    check_config(CONFIG, "config.json")
    check_config({**CONFIG, "class_names": [], "train_class_counts": None, "metrics": None}, "config.json")


@pytest.mark.parametrize("field, value", [("class_names", ["a", 1, "c"]), ("class_names", ["a", "b", "a"]),
                                          ("train_class_counts", [10, -1, 1]), ("train_class_counts", [10, 5, 0]),
                                          ("dataset", "cifar10"), ("num_classes", True)])
def test_a_field_of_the_wrong_kind_is_named(field, value):
    with pytest.raises(CheckpointError, match=f"config.json: .*{field}") as error:
        check_config({**CONFIG, field: value}, "config.json")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("field, value, problem", [
    ("train_class_counts", [10, 5, 0], "train_class_counts must be 3 positive integers (one per class)"),
    ("class_names", ["a", "b", "a"], "class_names hold 'a' more than once (each class needs its own name)"),
])
def test_a_class_without_training_images_or_with_another_class_name_is_refused(field, value, problem):
    with pytest.raises(CheckpointError) as error:  # training refuses both; predict would divide by 0 or print "a ... a"
        check_config({**CONFIG, field: value}, "config.json")
    assert str(error.value) == f"config.json: {problem}; save the checkpoint again with keras_lt.save_pretrained."


def weights(path, latent=4, dtype="float32"):
    save_file({"classifier/kernel": np.zeros((64, 3), dtype),
               "latent_categories/latent_kernel": np.zeros((64, latent), "float32")}, str(path))
    return str(path)


def test_the_weights_must_have_the_declared_outputs_and_be_floating_point(tmp_path):
    check_weights(CONFIG, weights(tmp_path / "ok.safetensors"))
    with pytest.raises(CheckpointError, match="declares latent_categories 4, .* has shape \\[64, 40\\]"):
        check_weights(CONFIG, weights(tmp_path / "latent.safetensors", latent=40))
    with pytest.raises(CheckpointError, match="classifier/kernel is I32"):
        check_weights(CONFIG, weights(tmp_path / "int.safetensors", dtype="int32"))
    (tmp_path / "cut.safetensors").write_bytes(open(weights(tmp_path / "w.safetensors"), "rb").read()[:100])
    with pytest.raises(CheckpointError, match="cannot read"):
        check_weights(CONFIG, str(tmp_path / "cut.safetensors"))


@pytest.mark.parametrize("architecture, metrics", [
    ({"mean": [10**400, 0.5, 0.5]}, {}), ({}, {"top1": 10**400}), ({"std": [0.25, float("inf"), 0.25]}, {}),
])
def test_a_number_past_a_floats_range_is_named_not_an_overflow(architecture, metrics):
    """JSON parses integers of any length: `math.isfinite` on one raised OverflowError, a traceback."""
    config = {**CONFIG, "architecture": {**CONFIG["architecture"], **architecture},
              "metrics": {**CONFIG["metrics"], **metrics}}
    with pytest.raises(CheckpointError, match=f"config.json: .*{next(iter({**architecture, **metrics}))}") as error:
        check_config(config, "config.json")
    assert "\n" not in str(error.value)


def test_an_integer_of_hundreds_of_digits_is_named_by_its_length():
    config = {**CONFIG, "architecture": {**CONFIG["architecture"], "num_classes": 10**400}}
    with pytest.raises(CheckpointError) as error:
        check_config(config, "config.json")
    assert "not an integer of 401 digits" in str(error.value) and len(str(error.value)) < 200
