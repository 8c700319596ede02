"""Hub checkpoints: save/load round trip, model card, name resolution, hf:// offline cache, push."""

import glob
import json
import os
import shutil

import keras_lt  # selects the torch backend before keras is imported
import keras
import numpy as np
import pytest
from huggingface_hub import ModelCard
from huggingface_hub import constants as hf_constants
from safetensors.numpy import load_file
from safetensors.numpy import save_file

from keras_lt import hub
from keras_lt import recipes
from keras_lt.errors import CheckpointError
from keras_lt.errors import KerasLTError
from keras_lt.errors import UnknownModelError
from keras_lt.evaluation import evaluate_predictions
from keras_lt.models import resnet32

CLASS_NAMES = ["plane", "car", "bird"]
COUNTS = [200, 50, 5]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def one_line(error):
    message = str(error.value)
    assert message and "\n" not in message
    return message


def images(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 3)).astype("uint8")


def predict(model, x):
    return keras.ops.convert_to_numpy(model.predict(x, verbose=0))


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    network = resnet32(3, input_shape=(8, 8, 3), mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    for v in network.non_trainable_weights:  # non-default BN statistics, so loading them is checked
        v.assign(np.random.default_rng(1).uniform(0.5, 1.5, size=v.shape).astype("float32"))
    return network


@pytest.fixture(scope="module")
def report():
    logits = np.random.default_rng(0).normal(size=(9, 3))
    return evaluate_predictions(logits, np.arange(9) % 3, COUNTS, CLASS_NAMES)


def save(model, directory, report=None, **kwargs):
    return hub.save_pretrained(
        model, str(directory), class_names=CLASS_NAMES, train_class_counts=COUNTS,
        dataset={"name": "cifar10", "title": "CIFAR-10-LT"}, recipe={"method": "erm", "loss": "ce"},
        metrics=report, **kwargs,
    )


@pytest.fixture
def checkpoint(model, report, tmp_path):
    directory = tmp_path / "tiny-ce"
    save(model, directory, report)
    return directory


def test_save_pretrained_writes_a_hub_repo(checkpoint, report):
    assert sorted(os.listdir(checkpoint)) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["name"] == "tiny-ce" and config["library"] == "keras-lt"
    assert config["architecture"]["name"] == "resnet32" and config["num_classes"] == 3
    assert config["class_names"] == CLASS_NAMES and config["train_class_counts"] == COUNTS
    assert config["metrics"]["top1"] == pytest.approx(report["top1"])

    card = ModelCard.load(checkpoint / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "keras-lt"
    assert data["datasets"] == ["cifar10"]
    (entry,) = data["model-index"]
    assert entry["name"] == "tiny-ce"
    (result,) = entry["results"]
    assert result["dataset"]["type"] == "cifar10" and result["dataset"]["split"] == "test"
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert values["Top-1 accuracy"] == pytest.approx(report["top1"], abs=0.01)
    assert values["Few-shot accuracy"] == pytest.approx(report["few"], abs=0.01)
    assert "keras_lt.from_pretrained" in card.text
    assert "zoo/" not in card.text  # not a zoo model: no pointer to a zoo entry


@pytest.mark.parametrize("recipe, summary", [
    ({"method": "erm", "loss": "ce", "epochs": 30, "schedule": "short30"},
     "(method `erm`, loss `ce`, 30 epochs; schedule `short30`)"),
    ({"method": "mixup", "loss": "ce", "epochs": 200, "schedule": "full", "finetune": {"method": "mislas", "epochs": 10}},
     "(method `mixup`, loss `ce`, 200 epochs, then stage 2 `mislas` (10 epochs); schedule `full`)"),
    ({"method": "erm", "mixer": {"name": "cmo"}, "regularizers": [{"name": "latent_reconstruction"}, {"name": "latent_isda"}],
      "loss": "bs", "epochs": 30, "schedule": "short30"},
     "(method `erm`, mixer `cmo`, regularizers `latent_reconstruction`, `latent_isda`, loss `bs`, 30 epochs; schedule `short30`)"),
    ({"method": "cmo", "loss": "bs", "epochs": 30, "schedule": "short30", "init_from": "cmo-x",
      "finetune": {"method": "afr", "epochs": 10}},
     "(stage 2 `afr` (10 epochs) on the checkpoint `cmo-x`, schedule `short30`)"),
])
def test_the_card_says_how_the_model_was_trained(model, tmp_path, recipe, summary):
    hub.save_pretrained(model, str(tmp_path / "m"), class_names=CLASS_NAMES, train_class_counts=COUNTS, recipe=recipe)
    text = " ".join(ModelCard.load(tmp_path / "m" / "README.md").text.split())
    assert f"trained with keras-lt {summary} on" in text


def test_from_pretrained_round_trip(model, checkpoint):
    loaded = hub.from_pretrained(str(checkpoint))
    x = images()
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.keras_lt_config["class_names"] == CLASS_NAMES
    # A loaded model saves again with its metadata, without passing it anew.
    config = hub.save_pretrained(loaded, str(checkpoint.parent / "again"))
    assert config["name"] == "tiny-ce" and config["train_class_counts"] == COUNTS


def test_weights_for_another_architecture_are_refused(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    config["architecture"]["num_classes"] = config["num_classes"] = 5  # the safetensors hold a 3-way head
    config["class_names"] = config["train_class_counts"] = []
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as error:
        hub.from_pretrained(str(checkpoint))
    assert "declares num_classes 5, the weights' classifier/kernel has shape [64, 3]" in one_line(error)


def test_missing_tensor_is_refused(checkpoint):
    tensors = load_file(checkpoint / "model.safetensors")
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, checkpoint / "model.safetensors")
    with pytest.raises(CheckpointError) as error:
        hub.from_pretrained(str(checkpoint))
    assert "1 weights missing" in one_line(error) and dropped in str(error.value)


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda d: (d / "model.safetensors").unlink(), "not a keras-lt checkpoint"),
        (lambda d: (d / "config.json").write_text("{not json"), "cannot read"),
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "cannot read"),
        (lambda d: (d / "config.json").write_text('{"architecture": {"name": "x", "num_classes": 3}}'), "unusable architecture"),
    ],
)
def test_broken_checkpoints_raise_one_line(checkpoint, damage, expected):
    damage(checkpoint)
    with pytest.raises(CheckpointError) as error:
        hub.from_pretrained(str(checkpoint))
    assert expected in one_line(error)


def edit_config(directory, change):
    config = json.loads((directory / "config.json").read_text())
    change(config)
    (directory / "config.json").write_text(json.dumps(config))


def set_architecture(key, value):
    return lambda config: config["architecture"].update({key: value})


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.update(class_names=["plane"]), "class_names must be 3 strings"),
        (lambda c: c.update(train_class_counts=["200", "50", "5"]), "train_class_counts must be 3 positive integers"),
        (lambda c: c.update(train_class_counts=[200, 50, 0]), "train_class_counts must be 3 positive integers"),
        (lambda c: c.update(class_names=["plane", "car", "plane"]), "class_names hold 'plane' more than once"),
        (set_architecture("input_shape", [8, 8, 1]), "input_shape must be [height, width, 3]"),
        (set_architecture("input_shape", [4096, 4096, 3]), "sides of 1..1024"),
        (set_architecture("num_classes", 2_000_000_000), "num_classes must be an integer in 1..100000"),
        (set_architecture("num_classes", "3"), "num_classes must be an integer"),
        (set_architecture("std", [0.2, 0.0, 0.3]), "std must be positive"),
        (set_architecture("mean", "grey"), "mean must be 3 numbers"),
        (lambda c: c.update(num_classes=10), "num_classes 10 differs from the architecture's 3"),
        (lambda c: c.update(recipe="ce"), "recipe must be an object"),
        (lambda c: c.update(metrics={"top1": "high"}), "metrics top1 must be numbers"),
        (lambda c: c.update(architecture=[]), "architecture needs a name"),
    ],
)
def test_a_malformed_config_is_one_line_before_anything_is_built(checkpoint, monkeypatch, change, expected):
    monkeypatch.setattr(keras_lt.models, "build", lambda architecture: pytest.fail("built"))
    edit_config(checkpoint, change)
    with pytest.raises(CheckpointError) as error:
        hub.from_pretrained(str(checkpoint))
    assert expected in one_line(error)


def test_a_config_without_the_top_level_num_classes_loads(checkpoint, model):
    edit_config(checkpoint, lambda config: config.pop("num_classes"))
    np.testing.assert_array_equal(predict(hub.from_pretrained(str(checkpoint)), images()), predict(model, images()))


@pytest.mark.parametrize("dtype", ["int8", "bool"])
def test_integer_or_bool_weights_are_refused_before_building(checkpoint, monkeypatch, dtype):
    tensors = load_file(checkpoint / "model.safetensors")
    tensors["classifier/kernel"] = tensors["classifier/kernel"].astype(dtype)
    save_file(tensors, checkpoint / "model.safetensors")
    monkeypatch.setattr(keras_lt.models, "build", lambda architecture: pytest.fail("built"))
    with pytest.raises(CheckpointError) as error:
        hub.from_pretrained(str(checkpoint))
    assert "keras-lt weights are floating point" in one_line(error)


def test_weights_that_are_not_finite_are_refused(checkpoint):
    tensors = load_file(checkpoint / "model.safetensors")
    tensors["classifier/bias"][0] = np.nan
    save_file(tensors, checkpoint / "model.safetensors")
    with pytest.raises(CheckpointError) as error:
        hub.from_pretrained(str(checkpoint))
    assert "classifier/bias holds NaN" in one_line(error)


def test_unknown_name_lists_accepted_forms_and_close_zoo_names():
    with pytest.raises(UnknownModelError) as error:
        hub.from_pretrained("resnet32-cifar10lt")
    message = one_line(error)
    assert message.startswith("unknown model 'resnet32-cifar10lt' (did you mean ")
    assert 1 < sum(f"'{name}'" in message for name in recipes.zoo_names()) <= recipes.CLOSE_ZOO_NAMES
    assert "'ce-resnet32-cifar10lt'" in message and "a checkpoint directory or hf://" in message
    assert message.endswith("(keras-lt list shows every zoo name).")


@pytest.mark.parametrize("path", [os.path.join("runs", "missing"), os.path.join("..", "missing")])
def test_a_missing_checkpoint_directory_is_said_to_be_missing(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)  # where no such directory exists
    with pytest.raises(UnknownModelError) as error:
        hub.from_pretrained(path)
    assert one_line(error) == f"no checkpoint directory {path}; check the path (a zoo model is given by its name)."


@pytest.mark.parametrize("path", ["cat.jpg", os.path.join("photos", "cat.jpg")])
def test_a_file_given_as_the_model_says_the_model_comes_first(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    os.makedirs("photos")
    with open(path, "wb") as f:
        f.write(b"\xff\xd8")  # `keras-lt predict cat.jpg`, the model left out
    with pytest.raises(UnknownModelError) as error:
        hub.from_pretrained(path)
    assert one_line(error) == (
        f"{path} is a file, not a model: the first argument is the model (a zoo name, a checkpoint directory or "
        "hf://ORG/NAME), the images come after it."
    )


@pytest.fixture
def fake_zoo(tmp_path, monkeypatch):
    """A zoo with 'alpha' (recipe only) and 'beta' (recipe and bundled weights)."""
    root = tmp_path / "zoo"
    for name in ("alpha", "beta"):
        (root / name).mkdir(parents=True)
        (root / name / recipes.RECIPE_FILE).write_text(json.dumps({"name": name}))
    monkeypatch.setattr(recipes, "zoo_root", lambda: str(root))
    monkeypatch.setattr(hub, "zoo_root", lambda: str(root))
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    return root


def test_zoo_name_without_weights_says_how_to_train(fake_zoo):
    assert hub.list_models() == ["alpha", "beta"]
    assert hub.model_info("alpha")["status"] == "not published"
    with pytest.raises(KerasLTError) as error:
        hub.from_pretrained("alpha")
    assert "keras-lt train --recipe alpha" in one_line(error)


@pytest.mark.parametrize("name", ["../outside", "beta/../../outside", "/abs/outside", ".."])
def test_a_zoo_name_never_reaches_outside_the_zoo(fake_zoo, model, name):
    save(model, fake_zoo.parent / "outside")
    with pytest.raises(UnknownModelError):
        hub.model_info(name)


def test_zoo_name_loads_bundled_then_locally_trained_weights(fake_zoo, model):
    save(model, fake_zoo / "beta")
    info = hub.model_info("beta")
    assert (info["status"], info["path"]) == ("bundled", str(fake_zoo / "beta"))
    np.testing.assert_array_equal(predict(hub.from_pretrained("beta"), images()), predict(model, images()))

    local = os.path.join(hub.local_checkpoints_dir(), "alpha")  # where `keras-lt train` writes
    assert local.startswith(os.environ["KERAS_LT_CACHE"])
    save(model, local)
    assert "(`zoo/alpha/`)" in ModelCard.load(os.path.join(local, "README.md")).text
    info = hub.model_info("alpha")
    assert (info["status"], info["path"]) == ("trained locally", local)
    np.testing.assert_array_equal(predict(hub.from_pretrained("alpha"), images()), predict(model, images()))


@pytest.fixture
def offline_hf_cache(tmp_path, monkeypatch):
    """An offline huggingface_hub with an empty cache (constants are read at import, so patched)."""
    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    return cache


def cache_repo(cache, checkpoint, repo_id, ref="main", commit=COMMIT):
    """Lays out a repo as huggingface_hub caches it: refs/<ref> -> snapshots/<commit>/files."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / ref).write_text(commit)
    shutil.copytree(checkpoint, repo / "snapshots" / commit)


def test_hf_uri_loads_from_the_offline_cache(offline_hf_cache, checkpoint, model):
    cache_repo(offline_hf_cache, checkpoint, "someorg/tiny-ce")
    cache_repo(offline_hf_cache, checkpoint, "someorg/tiny-ce", ref="v1", commit="f" * 40)
    expected = predict(model, images())
    for uri, revision in (("hf://someorg/tiny-ce", None), ("hf://someorg/tiny-ce@v1", None),
                          ("hf://someorg/tiny-ce", "v1"), (f"hf://someorg/tiny-ce@{COMMIT}", None)):
        loaded = hub.from_pretrained(uri, revision=revision)
        np.testing.assert_array_equal(predict(loaded, images()), expected)
    assert hub.resolve("hf://someorg/tiny-ce@v1").endswith("f" * 40)


def test_hf_uri_offline_and_not_cached_is_one_line(offline_hf_cache):
    with pytest.raises(KerasLTError) as error:
        hub.from_pretrained("hf://someorg/absent")
    message = one_line(error)
    assert "hf://someorg/absent" in message and "HF_HUB_OFFLINE" in message


@pytest.mark.parametrize("uri", ["hf://someorg/tiny-ce@../../..", "hf://someorg/tiny-ce@refs/../../x", "hf://someorg/tiny-ce@/etc"])
def test_a_revision_never_reaches_outside_the_hub_cache(offline_hf_cache, checkpoint, uri):
    cache_repo(offline_hf_cache, checkpoint, "someorg/tiny-ce")
    with pytest.raises(KerasLTError, match="is not a revision") as error:
        hub.from_pretrained(uri)
    one_line(error)


def test_hf_uri_with_an_invalid_repo_id_is_one_line(offline_hf_cache):
    for uri in ("hf://a/b/c", "hf://../x", "hf://a/.."):
        with pytest.raises(KerasLTError) as error:
            hub.from_pretrained(uri)
        assert uri.split("/", 3)[2] in one_line(error)


def test_push_dry_run_lists_the_files(checkpoint):
    assert hub.push(str(checkpoint), "someorg/tiny-ce", dry_run=True) == list(hub.CHECKPOINT_FILES)


def test_push_takes_every_file_a_finished_run_leaves_beside_its_checkpoint(checkpoint):
    """Named where they are written; `hub` spells them out (importing their writers would be a cycle)."""
    from keras_lt import run_directory
    from keras_lt.callbacks import afr_regeneration
    from keras_lt.trainers import cpmix

    written = {run_directory.RECIPE_FILE, run_directory.METRICS_FILE, run_directory.LOG_FILE,
               run_directory.FINETUNE_LOG_FILE, run_directory.PRE_FINETUNE_METRICS_FILE, cpmix.SUMMARY_FILE,
               afr_regeneration.SPLIT_FILE}
    assert written == set(hub.RUN_FILES)
    for name in sorted(written):
        (checkpoint / name).write_text("{}")
    assert hub.push(str(checkpoint), "someorg/tiny-ce", dry_run=True) == [*hub.CHECKPOINT_FILES, *hub.RUN_FILES]


def test_push_creates_the_repo_and_uploads_once(checkpoint, monkeypatch):
    calls = []

    class RecordingApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return type("Commit", (), {"commit_url": "https://hub/commit/1"})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    url = hub.push(str(checkpoint), "someorg/tiny-ce", private=True, token="tok")
    assert url == "https://hub/commit/1"
    assert [c[0] for c in calls] == ["init", "create_repo", "upload_folder"]
    assert calls[0] == ("init", "tok")
    assert calls[1][1] == "someorg/tiny-ce" and calls[1][2]["exist_ok"] is True and calls[1][2]["private"]
    upload = calls[2][1]
    assert upload["folder_path"] == str(checkpoint) and upload["repo_id"] == "someorg/tiny-ce"
    assert sorted(upload["allow_patterns"]) == sorted(hub.CHECKPOINT_FILES)
    assert "tiny-ce" in upload["commit_message"]


@pytest.mark.parametrize("dry_run", [True, False])
def test_push_refuses_a_checkpoint_that_does_not_load(checkpoint, monkeypatch, dry_run):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda **kwargs: pytest.fail("the Hub was called"))
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    with pytest.raises(CheckpointError) as error:
        hub.push(str(checkpoint), "someorg/x", dry_run=dry_run)
    assert one_line(error).startswith(f"cannot read {weights}: ")
    edit_config(checkpoint, lambda config: config.update(train_class_counts=[200, 50, 0]))
    with pytest.raises(CheckpointError) as error:
        hub.push(str(checkpoint), "someorg/x", dry_run=dry_run)
    assert "train_class_counts must be 3 positive integers" in one_line(error)


def test_push_refuses_a_directory_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError) as error:
        hub.push(str(tmp_path), "someorg/x", dry_run=True)
    one_line(error)


def test_save_pretrained_needs_a_keras_lt_model(tmp_path):
    inputs = keras.Input((3,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(CheckpointError) as error:
        hub.save_pretrained(plain, str(tmp_path / "x"))
    assert "keras_lt.models" in one_line(error)


@pytest.mark.parametrize("input_shape, kwargs, problem", [
    ((1025, 8, 3), {}, "input_shape must be [height, width, 3] with sides of 1..1024, not [1025, 8, 3]"),
    ((8, 8, 3), {"class_names": ["a", "b"]}, "class_names must be 3 strings (one per class)"),
])
def test_save_pretrained_writes_nothing_that_from_pretrained_would_refuse(tmp_path, input_shape, kwargs, problem):
    network = resnet32(3, input_shape=input_shape)
    directory = tmp_path / "x"
    with pytest.raises(CheckpointError) as error:
        hub.save_pretrained(network, str(directory), **kwargs)
    assert one_line(error) == f"cannot save {directory}: {problem}; keras_lt.from_pretrained could not load it."
    assert not directory.exists()


def test_a_dataset_named_by_a_folder_that_is_not_utf8_saves_exactly_in_the_config(tmp_path):
    """A folder `dat\\xe9` (Latin-1): Python holds the byte as a surrogate, which UTF-8 cannot write."""
    title = os.fsdecode(b"dat\xe9")
    directory = tmp_path / "x"
    hub.save_pretrained(resnet32(3, input_shape=(8, 8, 3)), str(directory), dataset={"name": "folder", "title": title})
    assert hub.from_pretrained(str(directory)).keras_lt_config["dataset"]["title"] == title
    assert "dat?" in (directory / "README.md").read_text(encoding="utf-8")  # the card: UTF-8, the byte a "?"


def test_headline_cifar100_checkpoint_says_how_to_train_it():
    # No CIFAR-100 pixels exist where the zoo is built: the name must fail in one line with the command.
    with pytest.raises(KerasLTError) as error:
        keras_lt.from_pretrained("cpmix-resnet32-cifar100lt")
    message = str(error.value)
    assert "\n" not in message and "not published yet" in message
    assert "keras-lt train --recipe cpmix-resnet32-cifar100lt" in message


def test_a_card_note_stands_under_the_summary(checkpoint):
    config = hub.read_config(str(checkpoint))
    plain = hub.model_card(config)
    noted = hub.model_card({**config, "card_note": "Trained with the previous reading of its recipe."})
    assert noted.replace("\n**Trained with the previous reading of its recipe.**\n", "") == plain


@pytest.mark.parametrize("name", ["mislas", "lcreg", "cpmix", "afr"])
def test_zoo_checkpoints_of_a_changed_recipe_say_so_in_their_card(name):
    """The short30 checkpoints trained before the recipe's correction say so; a full-recipe one, trained
    after it by the campaign (which moved the short30 one under results/short30-*), does not."""
    name = f"{name}-resnet32-cifar10lt"
    directory, folder = os.path.join(recipes.zoo_root(), name), None  # its card names zoo/<name>
    if hub.read_config(directory)["recipe"].get("schedule") == "full":
        assert "previous reading" not in hub.read_config(directory).get("card_note", "")
        results = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo", "results")
        (directory,) = glob.glob(os.path.join(results, "short30-*", name))  # the checkout's: not in the wheel
        folder = f"zoo/results/{os.path.basename(os.path.dirname(directory))}/{name}"
    config = hub.read_config(directory)
    with open(os.path.join(directory, "README.md")) as f:
        card = f.read()
    assert card == hub.model_card(config, folder) and "previous reading of its recipe" in config["card_note"]


def test_class_names_may_be_an_array_and_must_match_a_new_heads_classes(model, checkpoint, tmp_path):
    hub.save_pretrained(model, str(tmp_path / "array"), class_names=np.array(CLASS_NAMES))
    assert hub.from_pretrained(str(tmp_path / "array")).class_names == list(CLASS_NAMES)  # was a ValueError
    with pytest.raises(KerasLTError) as error:
        hub.from_pretrained(str(checkpoint), num_classes=5, class_names=["a", "b", "c"])
    assert one_line(error) == (
        "class_names name the classes of a new head: give as many as num_classes (3 names, num_classes 5)."
    )
    assert hub.from_pretrained(str(checkpoint), num_classes=2, class_names=("x", "y")).class_names == ["x", "y"]
    with pytest.raises(KerasLTError) as error:
        hub.from_pretrained(str(checkpoint), class_names=["x", "y", "z"])
    assert one_line(error) == "class_names name the classes of a new head: pass num_classes too."


def test_a_plain_keras_model_is_refused_saying_how_to_build_one_that_saves(tmp_path):
    from keras_lt.models import cifar_resnet

    with pytest.raises(CheckpointError, match=r"build it by name, keras_lt.models.build\(") as error:
        hub.save_pretrained(cifar_resnet(8, 3, input_shape=(8, 8, 3)), str(tmp_path / "plain"))
    one_line(error)
