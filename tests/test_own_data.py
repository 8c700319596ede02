"""Your own data end to end: the README's commands on a tiny long-tailed folder of mixed sizes and modes."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imagenet_lt_tree import write_tree
from keras_lt.cli.main import cli
from keras_lt.cli.train import build_recipe
from keras_lt.errors import KerasLTError
from keras_lt.own_data import CPMIX_RECIPE
from keras_lt.own_data import default_image_size
from keras_lt.own_data import fit_recipe_to_folder
from keras_lt.own_data import recipe_for_folder
from keras_lt.own_data import with_cpmix_switch
from keras_lt.recipes import load_recipe

RNG = np.random.default_rng(0)
TRAIN_COUNTS = {"ant": 12, "bee": 6, "moth": 3}  # long-tailed


def write_image(path, label, size=(12, 12), mode="RGB"):
    pixels = RNG.integers(0, 60, size=(*size, 3)).astype("uint8")
    pixels[..., label] += 180
    image = Image.fromarray(pixels)
    image.convert(mode).save(path)


def write_folder(root, counts=TRAIN_COUNTS, test=2, classes_in_test=None):
    """Mostly 12x12 RGB JPEGs and PNGs; some 16x10 and some grey ones."""
    for split, per_class in (("train", counts), ("test", {c: test for c in classes_in_test or counts})):
        for label, (name, count) in enumerate(per_class.items()):
            os.makedirs(root / split / name, exist_ok=True)
            for i in range(count):
                size, mode = ((16, 10), "RGB") if i % 4 == 1 else ((12, 12), "L" if i % 4 == 2 else "RGB")
                write_image(root / split / name / f"{i}.{'png' if i % 2 else 'jpg'}", label % 3, size, mode)
    return root


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    return result


def assert_one_line_error(result, match):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert match in lines[0], lines[0]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))


def test_the_readme_own_data_path(tmp_path):
    data = write_folder(tmp_path / "my_photos")
    out = tmp_path / "runs" / "photos"
    profile = run("data", "profile", data, "--plot", tmp_path / "new" / "folder" / "classes.png")
    assert profile.exit_code == 0 and (tmp_path / "new" / "folder" / "classes.png").is_file()
    train = run("train", "--data-dir", data, "--epochs", "1", "--batch-size", "8", "--license", "mit", "--output", out)
    assert train.exit_code == 0, train.output
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["title"] == "my_photos" and config["dataset"]["data_dir"] == str(data)
    assert config["train_class_counts"] == [12, 6, 3]  # the user's counts, kept
    assert config["architecture"]["input_shape"][:2] == [12, 12]  # the most common size
    assert config["recipe"]["license"] == "mit"
    card = (out / "README.md").read_text()
    assert "CIFAR" not in card and "license: mit" in card and 'from_pretrained("path/to/' in card and "hf://" in card
    evaluate = run("evaluate", out, "--data-dir", data)
    assert evaluate.exit_code == 0 and "top-1" in evaluate.output.lower()
    predict = run("predict", out, data / "test", "--top-k", "1")
    assert predict.exit_code == 0 and "bee" + os.sep + "1.png" in predict.output
    decoupled = run("decouple", out, "--method", "tau-norm", "--data-dir", data, "--output", tmp_path / "tau")
    assert decoupled.exit_code == 0, decoupled.output  # the same mixed folder, fitted to the model's size
    push = run("push", out, "--repo-id", "me/photos", "--dry-run")
    assert push.exit_code == 0
    assert all(f in push.output for f in ("model.safetensors", "metrics.json", "train_log.csv", "recipe.json"))
    again = run("train", "--data-dir", data, "--epochs", "1", "--output", out)
    assert_one_line_error(again, "holds a finished run")
    finished = {name: (out / name).read_bytes() for name in os.listdir(out)}
    for bad, match in ((["--resume"], "--resume continues an interrupted run and --overwrite replaces a finished one"),
                       (["--loss", "focall"], "unknown loss 'focall'"), ([], "also holds other files (mine.txt)")):
        if not bad:  # a file of the user's beside the run: never replaced with it
            (out / "mine.txt").write_text("the user's")
        failed = run("train", "--data-dir", data, "--epochs", "1", "--output", out, "--overwrite", *bad)
        assert_one_line_error(failed, match)  # and the finished run is still there, whole
        assert {name: (out / name).read_bytes() for name in finished} == finished
        assert os.listdir(out.parent) == ["photos"]
    (out / "mine.txt").unlink()
    replaced = run("train", "--data-dir", data, "--epochs", "1", "--batch-size", "8", "--output", out, "--overwrite")
    assert replaced.exit_code == 0 and "--overwrite: replacing the finished run" in replaced.output
    assert os.listdir(out.parent) == ["photos"]  # nothing left aside
    assert (out / "config.json").is_file()


def test_a_zoo_recipe_keeps_the_users_class_counts(tmp_path):
    data = write_folder(tmp_path / "lt")
    recipe, note = fit_recipe_to_folder(load_recipe("ce-resnet32-cifar10lt"), str(data))
    assert recipe.dataset == "folder" and recipe.imbalance_factor is None and "as it is" in note
    asked, note = fit_recipe_to_folder(load_recipe("ce-resnet32-cifar10lt"), str(data), imbalance_factor=4)
    assert asked.imbalance_factor == 4 and "as asked" in note
    balanced = write_folder(tmp_path / "cifar", counts={f"c{i}": 2 for i in range(10)}, test=1)
    source, _ = fit_recipe_to_folder(load_recipe("ce-resnet32-cifar10lt"), str(balanced))
    assert source.dataset == "cifar10" and source.imbalance_factor == 100  # the source it was written for


def test_a_benchmark_recipe_keeps_its_split_files_under_an_image_root_with_a_train_folder(tmp_path):
    """ImageNet-LT's root is ImageNet's (train/<class>/): the split files say which images, not the folder."""
    write_tree(tmp_path / "imagenet")
    recipe = load_recipe("ce-resnext50-imagenetlt")
    assert fit_recipe_to_folder(recipe, str(tmp_path / "imagenet")) == (recipe, None)
    own, note = fit_recipe_to_folder(recipe, str(write_folder(tmp_path / "mine")))  # no split file: your own data
    assert own.dataset == "folder" and "as it is" in note




@pytest.mark.parametrize("case, match", [
    ("empty", "holds no image files"),
    ("one", "has 1 training image"),
    ("test_classes", "test split's classes differ"),
    ("corrupt", "cannot read image"),
])
def test_bad_data_is_one_line(tmp_path, case, match):
    data = write_folder(tmp_path / "d", classes_in_test=["ant", "bee", "wasp"] if case == "test_classes" else None)
    if case == "empty":
        os.makedirs(data / "train" / "zebra")
    if case == "one":
        write_folder(data, counts={"solo": 1}, test=1)
    if case == "corrupt":
        (data / "train" / "ant" / "broken.jpg").write_bytes(b"not a jpeg")
    assert_one_line_error(run("train", "--data-dir", data, "--epochs", "1", "--output", tmp_path / "out"), match)


@pytest.mark.parametrize("args, match", [
    (["train", "--recipe", "ce-resnet32-cifar10-lt"], "did you mean 'ce-resnet32-cifar10lt'"),
    (["train", "--recipe", "ce-resnet32-cifar10lt", "--loss", "balanced_softmx", "--output", "x"],
     "did you mean 'balanced_softmax'"),
    (["info", "ce-resnet32-cifar10-lt"], "did you mean 'ce-resnet32-cifar10lt'"),
])
def test_misspelt_names_get_a_did_you_mean(tmp_path, monkeypatch, args, match):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(run(*args), match)


def test_fine_tune_a_checkpoint_on_other_classes(tmp_path):
    import keras_lt

    base = keras_lt.models.resnet32(3, input_shape=(12, 12, 3))
    keras_lt.save_pretrained(base, tmp_path / "base", class_names=["r", "g", "b"], train_class_counts=[5, 5, 5])
    assert keras_lt.from_pretrained(str(tmp_path / "base")).class_names == ["r", "g", "b"]
    new = keras_lt.from_pretrained(str(tmp_path / "base"), num_classes=2, class_names=["x", "y"])
    assert new.output_shape[-1] == 2 and new.class_names == ["x", "y"]
    for old, kept in zip(base.get_layer("stem_bn").weights, new.get_layer("stem_bn").weights):
        np.testing.assert_array_equal(old.numpy(), kept.numpy())  # the backbone is the pretrained one
    data = write_folder(tmp_path / "other", counts={"x": 6, "y": 3})
    out = tmp_path / "ft"
    result = run("train", "--init-from", tmp_path / "base", "--data-dir", data, "--epochs", "1", "--batch-size", "4",
                 "--output", out)
    assert result.exit_code == 0, result.output
    tuned = keras_lt.from_pretrained(str(out))
    assert tuned.class_names == ["x", "y"] and tuned.input_shape[1:3] == (12, 12)
    assert json.loads((out / "config.json").read_text())["recipe"]["init_from"] == str(tmp_path / "base")


@pytest.mark.parametrize("recipe", [[], ["--recipe", "ce-resnet32-cifar10lt"]], ids=["folder", "zoo recipe"])
def test_a_run_from_a_cosine_checkpoint_records_its_cosine_classifier(tmp_path, recipe):
    import keras_lt

    base = keras_lt.models.resnet32(3, classifier="cosine", input_shape=(12, 12, 3))
    keras_lt.save_pretrained(base, tmp_path / "base", class_names=["r", "g", "b"], train_class_counts=[5, 5, 5])
    data = write_folder(tmp_path / "other", counts={"x": 6, "y": 3})
    out = tmp_path / "ft"
    result = run("train", *recipe, "--init-from", tmp_path / "base", "--data-dir", data, "--epochs", "1",
                 "--batch-size", "4", "--output", out)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"]["classifier"] == "cosine"  # the network trained
    assert config["recipe"]["classifier"] == "cosine" and config["recipe"]["architecture"] == "resnet32"
    assert "cosine classifier" in run("info", out).output


def test_epochs_scale_every_switch_and_are_printed(tmp_path):
    recipe, changes = load_recipe("cmo-resnet32-cifar10lt").with_epochs(20)
    assert recipe.method_config["window"] == [1, 19] and "window" in " ".join(changes)
    ldam, changes = load_recipe("ldam-drw-resnet32-cifar10lt").with_epochs(20)
    assert ldam.drw_epoch == 16 and ldam.milestones == [16, 18] and any("drw_epoch: 160 -> 16" in c for c in changes)
    kps, _ = load_recipe("kps-resnet32-cifar10lt").with_epochs(1)
    assert kps.ga_epoch is not None  # never silently dropped
    assert kps.milestones == [1, 1]  # a single epoch at the peak rate, not x0.01 from its start
    cpmix, _ = load_recipe("cpmix-resnet32-cifar10lt").with_epochs(30)
    assert cpmix.cpmix_epoch == 20 and cpmix.finetune["epochs"] == 1
    with pytest.raises(KerasLTError, match="at least 1"):
        load_recipe("ce-resnet32-cifar10lt").with_epochs(0)


def test_a_validation_split_selects_the_checkpoint_and_the_card_says_so(tmp_path):
    data = write_folder(tmp_path / "val_photos")
    out = tmp_path / "run"
    result = run("train", "--data-dir", data, "--epochs", "2", "--batch-size", "8", "--val-split", "0.25",
                 "--select-on-val", "--output", out)
    assert result.exit_code == 0, result.output
    log = (out / "train_log.csv").read_text().splitlines()
    assert "val_balanced_accuracy" in log[0] and len(log) == 3
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["selected_epoch"] in (1, 2)
    assert config["train_class_counts"] == [9, 4, 2]  # 12, 6, 3 less the validation images
    assert "best on a validation split" in (out / "README.md").read_text()
    assert not (out / "best_val").exists()


def test_a_recipe_from_the_folder_takes_its_defaults_from_the_data(tmp_path):
    small = write_folder(tmp_path / "Small Photos!")
    recipe = recipe_for_folder(str(small), loss="bs")
    assert (recipe.name, recipe.architecture, recipe.image_size) == ("bs-resnet32-small-photos", "resnet32", [12, 12])
    assert recipe.dataset == "folder" and recipe.imbalance_factor is None and recipe.epochs == 30
    large = tmp_path / "large"
    for name in ("a", "b"):
        os.makedirs(large / "train" / name)
        for i in range(2):
            Image.new("RGB", (300, 200)).save(large / "train" / name / f"{i}.png")
    recipe = recipe_for_folder(str(large))
    assert recipe.architecture == "resnet50" and recipe.image_size == [224, 224]


def test_the_default_size_of_turned_phone_photos_is_their_upright_size(tmp_path):
    from test_decode import turned_jpeg

    for name in ("a", "b"):
        os.makedirs(tmp_path / "phone" / "train" / name)
        for i in range(2):  # stored 40 x 30, EXIF "rotate 90": shown, and decoded, 30 wide and 40 high
            turned_jpeg(tmp_path / "phone" / "train" / name / f"{i}.jpg", size=(40, 30))
    assert default_image_size(tmp_path / "phone") == [40, 30]


def test_a_recipe_from_the_folder_takes_the_schedule_asked_for(tmp_path):
    data = str(write_folder(tmp_path / "photos"))
    assert recipe_for_folder(data).schedule == "short30"
    full = recipe_for_folder(data, schedule="full")
    assert (full.schedule, full.epochs, full.warmup_epochs, full.milestones) == ("full", 200, 5, [160, 180])
    with pytest.raises(KerasLTError, match="unknown schedule 'bogus'; choose full or short30."):
        recipe_for_folder(data, schedule="bogus")


def test_a_loss_gets_the_classifier_it_is_defined_on_unless_one_is_given(tmp_path, capsys):
    data = str(write_folder(tmp_path / "photos"))
    assert recipe_for_folder(data, loss="ldam").classifier == "cosine"
    assert recipe_for_folder(data, loss="bs").classifier == "linear"
    assert recipe_for_folder(data, loss="kps", classifier="linear").classifier == "linear"  # given: checked, not changed
    for recipe_name in (None, "ce-resnet32-cifar10lt"):
        recipe = build_recipe(recipe_name, "short30", data, {"loss": "kps"}, None, None)
        assert (recipe.loss, recipe.classifier) == ("kps", "cosine")
        assert "--loss kps is defined on a cosine classifier's logits: training a cosine classifier" in capsys.readouterr().out
    assert build_recipe("kps-resnet32-cifar10lt", "short30", None, {"loss": "focal"}, None, None).classifier == "linear"
    assert "--loss focal is defined on a linear classifier's logits: training a linear classifier" in capsys.readouterr().out
    assert build_recipe("ce-resnet32-cifar10lt", "short30", None, {"loss": "bs"}, None, None).classifier == "linear"
    assert "classifier" not in capsys.readouterr().out  # said only when it changes


def test_another_loss_takes_its_defaults_not_the_recipe_loss_config(capsys):
    kps = build_recipe("ldam-drw-resnet32-cifar10lt", "short30", None, {"loss": "kps"}, None, None)
    assert (kps.loss, kps.loss_config, kps.classifier, kps.drw_epoch) == ("kps", {}, "cosine", 24)
    assert '--loss kps replaces the recipe\'s ldam: kps takes its defaults, not loss_config {"max_margin": 0.5' in capsys.readouterr().out
    same = build_recipe("la-resnet32-cifar10lt", "short30", None, {"loss": "la"}, None, None)
    assert same.loss_config == {"tau": 1.0} and "replaces" not in capsys.readouterr().out


def test_method_cpmix_starts_cp_mix_where_the_zoo_recipe_does(tmp_path, capsys):
    data = str(write_folder(tmp_path / "photos"))
    recipe, note = with_cpmix_switch(recipe_for_folder(data, method="cpmix"))
    assert recipe.cpmix_epoch == 20 and note == f"CP-Mix starts at epoch 20 of 30 (cpmix_epoch: {CPMIX_RECIPE} starts it at 200 of 300)."
    assert with_cpmix_switch(load_recipe(CPMIX_RECIPE)) == (load_recipe(CPMIX_RECIPE), None)
    scaled = build_recipe(None, "full", data, {"method": "cpmix", "epochs": 10}, None, None)
    assert scaled.cpmix_epoch == load_recipe(CPMIX_RECIPE).with_epochs(10)[0].cpmix_epoch == 7
    assert "--method cpmix: CP-Mix starts at epoch 7 of 10" in capsys.readouterr().out
    assert build_recipe("bs-resnet32-cifar10lt", "short30", None, {"method": "cpmix"}, None, None).cpmix_epoch == 20
    assert "CP-Mix starts at epoch 20 of 30" in capsys.readouterr().out
    kept = build_recipe(CPMIX_RECIPE, "full", None, {"method": "cpmix"}, None, None)
    assert kept.cpmix_epoch == 200 and "CP-Mix starts" not in capsys.readouterr().out


def test_train_with_loss_ldam_and_method_cpmix_on_a_folder(tmp_path):
    data = write_folder(tmp_path / "photos")
    out = tmp_path / "run"
    result = run("train", "--data-dir", data, "--loss", "ldam", "--method", "cpmix", "--epochs", "2", "--batch-size", "8",
                 "--output", out)
    assert result.exit_code == 0, result.output
    assert "training a cosine classifier" in result.output and "CP-Mix starts at epoch 1 of 2" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"]["classifier"] == "cosine" and config["recipe"]["cpmix_epoch"] == 1
    assert [row.split(",")[0] for row in (out / "train_log.csv").read_text().splitlines()[1:]] == ["0", "1"]
    assert "cpmix" in (out / "train_log.csv").read_text().splitlines()[0]
