"""`keras_lt.cli.models`: `keras-lt list`, `info` and `push`, and the lines `info` prints."""

import json
import os
import shutil

import pytest

from cli_run import assert_one_line_error
from cli_run import run
from cli_run import tiny  # noqa: F401  (a fixture)
from keras_lt import hub
from keras_lt import recipes
from keras_lt.cli import models


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private keras-lt cache, whose checkpoints/ holds the locally trained models."""
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_zoo(tmp_path, monkeypatch, tiny, cache):
    """A zoo of three recipes: `alpha` bundled, `beta` trained locally, `gamma` not published."""
    root = tmp_path / "zoo"
    for name in ("alpha", "beta", "gamma"):
        os.makedirs(root / name)
        (root / name / "recipe.json").write_text(json.dumps({"name": name, "loss": "ldam"}))
    shutil.copytree(tiny[1], root / "alpha", dirs_exist_ok=True)
    shutil.copytree(tiny[1], cache / "checkpoints" / "beta")
    monkeypatch.setattr(recipes, "zoo_root", lambda: str(root))
    monkeypatch.setattr(hub, "zoo_root", lambda: str(root))
    return root


def test_list_shows_status_top1_and_dataset(fake_zoo):
    result = run("list")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert sorted(rows) == ["alpha", "beta", "gamma"]
    assert "bundled" in rows["alpha"] and "42.50%" in rows["alpha"] and "Tiny-LT" in rows["alpha"]
    assert "trained locally" in rows["beta"] and "42.50%" in rows["beta"]
    assert "not published" in rows["gamma"]
    listed = json.loads(run("list", "--json").output)
    assert [(m["name"], m["status"], m["top1"]) for m in listed] == [
        ("alpha", "bundled", 42.5), ("beta", "trained locally", 42.5), ("gamma", "not published", None)
    ]


def test_info_of_a_directory_readable_and_json(tiny):
    result = run("info", tiny[1])
    assert result.exit_code == 0, result.output
    assert "resnet32" in result.output and "ant, bee, cat" in result.output
    assert "255 images" in result.output and "imbalance factor 40.0" in result.output
    assert "many 1, medium 1, few 1" in result.output and "top-1 42.50%" in result.output
    with open(os.path.join(tiny[1], "config.json")) as f:
        assert json.loads(run("info", tiny[1], "--json").output) == json.load(f)


def test_info_of_an_unpublished_zoo_name_shows_its_recipe(fake_zoo):
    result = run("info", "gamma")
    assert result.exit_code == 0, result.output
    assert "not published" in result.output and "loss ldam" in result.output
    assert json.loads(run("info", "gamma", "--json").output)["recipe"]["loss"] == "ldam"


def test_info_of_a_combination_recipe_names_its_ingredients():
    result = run("info", "cpmix-lcreg-mislas-resnet32-cifar10lt")
    assert result.exit_code == 0, result.output
    assert "method erm, regularizers latent_reconstruction, latent_isda, cpmix, loss balanced_softmax" in result.output
    assert "then stage 2 mislas" in result.output


def test_push_dry_run_lists_the_files(tiny):
    result = run("push", tiny[1], "--repo-id", "someone/tiny", "--private", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "huggingface.co/someone/tiny (private)" in result.output
    for name in ("config.json", "model.safetensors", "README.md"):
        assert os.path.join(tiny[1], name) in result.output


@pytest.mark.parametrize("repo_id", ["no-slash", "a/b/c", "a b/c"])
def test_push_rejects_a_bad_repo_id(tiny, repo_id):
    result = run("push", tiny[1], "--repo-id", repo_id, "--dry-run")
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: --repo-id must be ORG/NAME (letters, digits, '-', '_', '.'), got '{repo_id}'."
    )


def test_push_rejects_a_directory_without_checkpoint(tmp_path):
    assert_one_line_error(run("push", tmp_path, "--repo-id", "someone/tiny", "--dry-run"))


def test_push_rejects_a_checkpoint_with_truncated_weights(tiny, tmp_path):
    corrupt = shutil.copytree(tiny[1], tmp_path / "corrupt")
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    result = run("push", corrupt, "--repo-id", "someone/tiny", "--dry-run")
    assert_one_line_error(result)
    assert f"cannot read {weights}" in result.stderr and not result.stdout  # no file listed




def test_info_of_a_directory_says_where_it_is(tiny):
    checkpoint = models.checkpoint_info(tiny[1])
    assert (checkpoint["name"], checkpoint["status"], checkpoint["path"]) == ("tiny", "directory", tiny[1])
    lines = run("info", tiny[1]).output.splitlines()
    assert lines[:2] == ["name          tiny", f"status        directory ({tiny[1]})"]


def test_dataset_title_prefers_the_title_to_the_name():
    assert models.dataset_title({"dataset": {"name": "folder", "title": "My photos"}}) == "My photos"
    assert models.dataset_title({"dataset": {"name": "cifar10"}}) == "cifar10"
    assert models.dataset_title({"dataset": None}) is None and models.dataset_title(None) is None


def test_describe_architecture_leaves_out_the_normalisation():
    architecture = {"name": "resnet32", "num_classes": 3, "mean": [0.5] * 3, "std": [0.25] * 3, "classifier": "cosine"}
    assert models.describe_architecture(architecture) == "resnet32 (num_classes=3, classifier=cosine)"


def test_describe_classes_lists_the_first_ten_names():
    names = [f"c{i}" for i in range(12)]
    assert models.describe_classes({"num_classes": 12, "class_names": names}) == (
        "12: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, ... (+2)"
    )
    assert models.describe_classes({"num_classes": 2, "class_names": ["a", "b"]}) == "2: a, b"
    assert models.describe_classes({"num_classes": 12}) == "12"


def test_describe_counts_at_the_group_thresholds():
    # 240 images; imbalance 101 / 19 (the empty class left out); many > 100, few < 20.
    assert models.describe_counts([101, 100, 20, 19, 0]) == (
        "240 images, 101 to 0 per class, imbalance factor 5.3; many 1, medium 2, few 2 classes"
    )


def test_describe_metrics_percentages_and_fractions_in_a_fixed_order():
    metrics = {"ece": 0.01234, "top1": 42.5, "macro_f1": 0.5, "few": None, "nll": 3.0}
    assert models.describe_metrics(metrics) == "top-1 42.50%  macro-F1 0.5000  ECE 0.0123"
    assert models.describe_metrics({}) == ""
