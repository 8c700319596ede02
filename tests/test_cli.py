"""The `keras-lt` commands, run in-process on a tiny ResNet-32 checkpoint and images written here."""

import csv
import io
import json
import os
import shutil
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import keras_lt
from imagenet_lt_tree import TRAIN_COUNTS as TREE_TRAIN_COUNTS
from imagenet_lt_tree import write_tree
from keras_lt import hub
from keras_lt import inference
from keras_lt import recipes
from keras_lt import training
from keras_lt.cli import evaluate as evaluate_command
from keras_lt.cli.main import cli
from keras_lt.data.eval_transform import EvalTransform
from keras_lt.data.image_files import WORKERS_ENV
from tiny_run import tiny_folder
from tiny_run import tiny_recipe

CLASSES = ["ant", "bee", "cat"]
TRAIN_COUNTS = [200, 50, 5]  # many, medium, few
SIZE = 8  # the tiny model's input is 8x8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLE_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A ResNet-32 with an 8x8 input saved as a checkpoint; returns (model, directory)."""
    model = keras_lt.models.resnet32(len(CLASSES), input_shape=(SIZE, SIZE, 3))
    directory = str(tmp_path_factory.mktemp("checkpoints") / "tiny")
    keras_lt.save_pretrained(
        model,
        directory,
        class_names=CLASSES,
        train_class_counts=TRAIN_COUNTS,
        dataset={"name": "folder", "title": "Tiny-LT"},
        metrics={"top1": 42.5, "top5": 100.0, "many": 50.0, "medium": 40.0, "few": 30.0},
    )
    return model, directory


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A private keras-lt cache (decoded arrays, locally trained checkpoints)."""
    monkeypatch.setenv("KERAS_LT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output + result.stderr
    return result


def assert_one_line_error(result):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


def write_image(path, mode, size, seed=0):
    """A random image of `mode` ("RGB", "L", "RGBA", "P") and `size` (w, h), format from the suffix."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    rgb.convert(mode).save(path)
    return str(path)


def expected_probabilities(model, path):
    """Softmax of the model's logits for one image, read and fitted here with PIL directly (shorter side, centre crop)."""
    with Image.open(path) as image:
        if image.mode == "RGBA":
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        scale = SIZE / min(image.size)
        width, height = max(SIZE, round(image.width * scale)), max(SIZE, round(image.height * scale))
        left, top = (width - SIZE) // 2, (height - SIZE) // 2
        fitted = image.convert("RGB").resize((width, height), Image.BILINEAR)
        pixels = np.asarray(fitted.crop((left, top, left + SIZE, top + SIZE)))
    logits = np.asarray(model.predict(pixels[None], verbose=0), dtype=np.float64)[0]
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


# ------------------------------------------------------------------------------------ list and info


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


@pytest.mark.parametrize("command", [["info"], ["predict"], ["evaluate", "--dataset", "folder"]])
def test_unknown_model_is_one_error_line(command):
    assert_one_line_error(run(*command, "no-such-model"))


MALFORMED = {
    "short class_names": lambda c: c.update(class_names=["ant"]),
    "no num_classes": lambda c: c["architecture"].pop("num_classes"),
    "1-channel input": lambda c: c["architecture"].update(input_shape=[8, 8, 1]),
    "string counts": lambda c: c.update(train_class_counts="200,50,5"),
    "huge num_classes": lambda c: c["architecture"].update(num_classes=2_000_000_000),
    "huge input": lambda c: c["architecture"].update(input_shape=[4096, 4096, 3]),
    "list recipe": lambda c: c.update(recipe=["erm"]),
    "string metric": lambda c: c.update(metrics={"top1": "n/a"}),
    "null architecture": lambda c: c.update(architecture=None),
}


@pytest.mark.parametrize("command", ["info", "predict"])
@pytest.mark.parametrize("damage", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_checkpoint_is_one_error_line(tiny, tmp_path, command, damage):
    directory = shutil.copytree(tiny[1], tmp_path / "malformed")
    config = json.loads((directory / "config.json").read_text())
    damage(config)
    (directory / "config.json").write_text(json.dumps(config))
    assert_one_line_error(run(command, directory))


# ------------------------------------------------------------------------------------------ predict


@pytest.fixture
def images(tmp_path):
    """Images in several modes and sizes, a corrupt file, and a folder with a nested image."""
    paths = {
        "rgb": write_image(tmp_path / "rgb.jpg", "RGB", (30, 20), seed=1),
        "grey": write_image(tmp_path / "grey.png", "L", (8, 8), seed=2),
        "rgba": write_image(tmp_path / "rgba.png", "RGBA", (16, 16), seed=3),
        "palette": write_image(tmp_path / "palette.png", "P", (12, 9), seed=4),
        "nested": write_image(tmp_path / "folder" / "sub" / "deep.JPG", "RGB", (40, 40), seed=5),
    }
    (tmp_path / "folder" / "notes.txt").write_text("not an image")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    paths["corrupt"] = str(tmp_path / "corrupt.jpg")
    paths["folder"] = str(tmp_path / "folder")
    return paths


def test_predict_any_mode_and_size_skips_a_corrupt_file(tiny, images):
    model, directory = tiny
    args = [images[k] for k in ("rgb", "grey", "corrupt", "rgba", "palette", "folder")]
    result = run("predict", directory, *args, "--top-k", 3, "--format", "json")
    assert result.exit_code == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and "corrupt.jpg" in skipped[0]
    predictions = json.loads(result.stdout)
    expected_paths = [images[k] for k in ("rgb", "grey", "rgba", "palette", "nested")]
    assert [p["path"] for p in predictions] == expected_paths
    for entry in predictions:
        probabilities = [p["probability"] for p in entry["predictions"]]
        assert sorted(p["class"] for p in entry["predictions"]) == CLASSES  # k = 3 = all classes
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)
        by_class = {p["class"]: p["probability"] for p in entry["predictions"]}
        reference = expected_probabilities(model, entry["path"])
        np.testing.assert_allclose([by_class[c] for c in CLASSES], reference, rtol=1e-4, atol=1e-6)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_predict_skips_bombs_and_fifos_and_batches_give_the_same(tiny, images, tmp_path):
    from test_image_folder import png_header_only

    bomb = str(png_header_only(tmp_path / "bomb.png", 30000, 30000))
    os.mkfifo(tmp_path / "pipe.jpg")
    given = [images["rgb"], bomb, images["grey"], str(tmp_path / "pipe.jpg"), images["rgba"], images["palette"]]
    outputs = []
    for batch in (["--batch-size", 2], []):  # 3 batches of 2 (one with nothing readable), or one
        result = run("predict", tiny[1], *given, "--format", "json", *batch)
        assert result.exit_code == 0, result.stderr
        skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
        assert len(skipped) == 2 and "bomb.png" in skipped[0] and "not a regular file" in skipped[1]
        outputs.append(json.loads(result.stdout))
    assert [p["path"] for p in outputs[0]] == [images[k] for k in ("rgb", "grey", "rgba", "palette")]
    for mine, theirs in zip(*outputs):
        assert [p["class"] for p in mine["predictions"]] == [p["class"] for p in theirs["predictions"]]
        np.testing.assert_allclose([p["probability"] for p in mine["predictions"]],
                                   [p["probability"] for p in theirs["predictions"]], rtol=1e-5, atol=1e-6)


def test_predict_with_posthoc_logit_adjustment(tiny, images):
    model, directory = tiny
    result = run("predict", directory, images["rgb"], "--top-k", 3, "--format", "json", "--logit-adjust", 1.5)
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    by_class = {p["class"]: p["probability"] for p in entry["predictions"]}
    prior = np.array(TRAIN_COUNTS) / np.sum(TRAIN_COUNTS)
    adjusted = np.log(expected_probabilities(model, images["rgb"])) - 1.5 * np.log(prior)
    reference = np.exp(adjusted - adjusted.max()) / np.exp(adjusted - adjusted.max()).sum()
    np.testing.assert_allclose([by_class[c] for c in CLASSES], reference, rtol=1e-4, atol=1e-6)


def test_logit_adjustment_of_a_checkpoint_without_training_counts_is_one_error_line(tmp_path, images):
    directory = str(tmp_path / "no-counts")
    keras_lt.save_pretrained(keras_lt.models.resnet32(len(CLASSES), input_shape=(SIZE, SIZE, 3)), directory, class_names=CLASSES)
    result = run("predict", directory, images["rgb"], "--logit-adjust", 1)
    assert_one_line_error(result)
    assert "train_class_counts" in result.stderr and "--logit-adjust" in result.stderr


def test_predict_csv_and_table(tiny, images):
    paths = [images["rgb"], images["grey"]]
    result = run("predict", tiny[1], *paths, "--top-k", 2, "--format", "csv", "--batch-size", 1)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["path"], r["rank"]) for r in rows] == [(p, r) for p in paths for r in ("1", "2")]
    assert all(r["class"] in CLASSES and 0 <= float(r["probability"]) <= 1 for r in rows)
    table = run("predict", tiny[1], *paths, "--top-k", 2).stdout.splitlines()
    assert table[0].split() == ["image", "top-1", "top-2"]
    assert [line.split()[0] for line in table[1:]] == paths


def test_predict_without_paths_uses_the_bundled_samples(tiny):
    result = run("predict", tiny[1], "--format", "json", "--top-k", 1)
    assert result.exit_code == 0, result.stderr
    names = [os.path.splitext(os.path.basename(p["path"]))[0] for p in json.loads(result.stdout)]
    assert names == SAMPLE_CLASSES


def test_predict_with_no_readable_image_fails(tiny, images):
    result = run("predict", tiny[1], images["corrupt"], os.path.join(images["folder"], "missing.png"))
    assert result.exit_code != 0
    assert [line.split()[0] for line in result.stderr.splitlines()] == ["skipped:", "skipped:", "Error:"]


# ----------------------------------------------------------------------------------------- evaluate


@pytest.fixture
def test_folder(tmp_path):
    """`test/<class>/` with 2, 3 and 2 RGB PNGs of 10x10 (resized to the model's 8x8)."""
    root = tmp_path / "data"
    for label, (name, count) in enumerate(zip(CLASSES, (2, 3, 2))):
        for i in range(count):
            write_image(root / "test" / name / f"{i}.png", "RGB", (10, 10), seed=10 * label + i)
    return root


def test_evaluate_json_plots_and_confusion_pairs(tiny, test_folder, tmp_path):
    model, directory = tiny
    plots = tmp_path / "plots"
    result = run(
        "evaluate", directory, "--data-dir", test_folder, "--format", "json", "--plots", plots,
        "--confusion-pairs", 2,
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    labels, predictions = [], []
    for label, name in enumerate(CLASSES):  # the reference: predictions on images read here
        for file in sorted(os.listdir(test_folder / "test" / name)):
            probabilities = expected_probabilities(model, test_folder / "test" / name / file)
            labels.append(label)
            predictions.append(int(np.argmax(probabilities)))
    labels, predictions = np.array(labels), np.array(predictions)
    assert report["num_samples"] == 7
    assert report["top1"] == pytest.approx(100 * np.mean(predictions == labels))
    for group, c in (("many", 0), ("medium", 1), ("few", 2)):
        assert report[group] == pytest.approx(100 * np.mean(predictions[labels == c] == c))
    assert report["train_counts"] == TRAIN_COUNTS
    errors = {(CLASSES[t], CLASSES[p]) for t, p in zip(labels, predictions) if t != p}
    assert len(report["confusion_pairs"]) == min(2, len(errors))
    assert all((pair["true"], pair["predicted"]) in errors for pair in report["confusion_pairs"])
    for name in ("per_class_accuracy.png", "confusion_matrix.png"):
        assert (plots / name).read_bytes().startswith(PNG_SIGNATURE)


def test_evaluate_table_to_a_file_with_pairs(tiny, test_folder, tmp_path):
    output = tmp_path / "report.txt"
    result = run("evaluate", tiny[1], "--data-dir", test_folder, "--output", output, "--confusion-pairs", 3)
    assert result.exit_code == 0, result.stderr
    text = output.read_text()
    assert text.startswith("samples 7  top-1 ") and "most frequent confusions" in text


@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_evaluate_with_posthoc_logit_adjustment(tiny, test_folder, tau):
    model, directory = tiny
    result = run("evaluate", directory, "--data-dir", test_folder, "--format", "json", "--logit-adjust", tau)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    prior = np.array(TRAIN_COUNTS) / np.sum(TRAIN_COUNTS)
    labels, predictions = [], []
    for label, name in enumerate(CLASSES):  # argmax of log p(y|x) - tau log p(y), Menon et al.
        for file in sorted(os.listdir(test_folder / "test" / name)):
            adjusted = np.log(expected_probabilities(model, test_folder / "test" / name / file)) - tau * np.log(prior)
            labels.append(label)
            predictions.append(int(np.argmax(adjusted)))
    assert report["top1"] == pytest.approx(100 * np.mean(np.array(predictions) == np.array(labels)))


def test_evaluate_rejects_a_dataset_with_other_classes(tiny, test_folder):
    os.rename(test_folder / "test" / "bee", test_folder / "test" / "zebra")  # as many classes, one of them another
    result = run("evaluate", tiny[1], "--data-dir", test_folder)
    assert_one_line_error(result)  # not "matched by order": cat's images scored as bee's
    assert "not in the model: zebra; not in the data: bee)" in result.stderr
    shutil.rmtree(test_folder / "test" / "cat")
    assert_one_line_error(run("evaluate", tiny[1], "--data-dir", test_folder))


def test_evaluate_writes_the_report_into_a_new_folder_or_says_why_not(tiny, test_folder, tmp_path):
    report = tmp_path / "new" / "folder" / "report.json"
    result = run("evaluate", tiny[1], "--data-dir", test_folder, "--format", "json", "--output", report)
    assert result.exit_code == 0, result.stderr
    assert json.loads(report.read_text())["top1"] >= 0
    (tmp_path / "file").write_text("")
    result = run("evaluate", tiny[1], "--data-dir", test_folder, "--output", tmp_path / "file" / "report.txt")
    assert_one_line_error(result)
    assert "cannot write" in result.stderr


def test_evaluate_without_data_dir_says_to_pass_it(tiny):
    result = run("evaluate", tiny[1])
    assert_one_line_error(result)
    assert "without a data directory; pass --data-dir" in result.stderr and "None" not in result.stderr


@pytest.mark.parametrize("pipeline", [{}, {"pipeline": "stream", "augment": "imagenet"}], ids=["memory", "stream"])
def test_evaluate_a_run_on_a_folder_without_test_scores_the_split_it_held_out(
    tmp_path, monkeypatch, tiny_architecture, pipeline
):
    monkeypatch.setenv(WORKERS_ENV, "0")
    folder = tiny_folder(tmp_path / "photos", test=False)
    out = str(tmp_path / "run")
    recipe = tiny_recipe(dataset="folder", imbalance_factor=None, image_size=8, val_split=0.25, **pipeline)
    trained = training.train(recipe, out, data_dir=folder, verbose=0)
    result = run("evaluate", out, "--data-dir", folder, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["num_samples"] == trained["num_samples"] == 3  # one of each class: 8, 6, 4 less validation
    assert report["top1"] == pytest.approx(trained["top1"])
    assert report["confusion_matrix"] == trained["confusion_matrix"]
    assert "held out for its test metrics" in result.stderr
    os.remove(os.path.join(folder, "train", "c2", "0.png"))
    changed = run("evaluate", out, "--data-dir", folder)
    assert_one_line_error(changed)
    assert "no longer holds the images" in changed.stderr


@pytest.mark.parametrize("command", [["evaluate", "no-such-model", "--plots"], ["data", "profile", ".", "--plot"]])
def test_plots_without_matplotlib_fail_before_the_work(tmp_path, monkeypatch, command):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    result = run(*command, tmp_path / "plots")
    assert_one_line_error(result)
    assert "pip install 'keras-lt[plots]'" in result.stderr and result.stdout == ""


def same_predictions(result, reference):
    """Whether two JSON reports count the same predictions (their logits differ with the batch by rounding)."""
    got, expected = json.loads(result.stdout), json.loads(reference.stdout)
    return got["confusion_matrix"] == expected["confusion_matrix"] and got["top1"] == expected["top1"]


def test_evaluate_default_batch_is_memory_bounded(tiny, test_folder, monkeypatch):
    passes = []
    direct_call = inference.direct_call
    monkeypatch.setattr(inference, "direct_call", lambda network, x, training: passes.append(len(x)) or direct_call(
        network, x, training=training))
    reference = run("evaluate", tiny[1], "--data-dir", test_folder, "--format", "json")
    assert passes == [7]  # 7 images of 8x8 fit inference_batch_size's 1024
    passes.clear()
    monkeypatch.setattr(inference, "PIXELS_PER_BATCH", 3 * SIZE * SIZE)  # the bound: 3 images of 8x8 per pass
    bounded = run("evaluate", tiny[1], "--data-dir", test_folder, "--format", "json")
    assert passes == [3, 3, 1] and same_predictions(bounded, reference)
    passes.clear()
    assert run("evaluate", tiny[1], "--data-dir", test_folder, "--format", "json", "--batch-size", 2).exit_code == 0
    assert passes == [2, 2, 2, 1]


@pytest.fixture(scope="module")
def streamed_model(tmp_path_factory):
    """An ImageNet-LT-style tree (`imagenet_lt_tree`) and a 16x16 ResNet-32 saved as trained on it.

    Returns the model, the tree, its listed images, and two checkpoint directories: `imagenet_lt`
    (its split files) and `folder` (its `val/<class>/` folder, with a streamed recipe).
    """
    root = tmp_path_factory.mktemp("imagenet")
    listed = write_tree(root)
    model = keras_lt.models.resnet32(3, input_shape=(16, 16, 3))
    directories = {}
    for dataset, recipe in (("imagenet_lt", None), ("folder", {"pipeline": "stream"})):
        directories[dataset] = str(root / f"checkpoint-{dataset}")
        keras_lt.save_pretrained(model, directories[dataset], class_names=["n00", "n01", "n02"],
                                 train_class_counts=list(TREE_TRAIN_COUNTS), dataset={"name": dataset}, recipe=recipe)
    return model, root, listed, directories


@pytest.mark.parametrize("dataset, split", [("imagenet_lt", "test"), ("folder", "val")])
def test_evaluate_streams_split_files_and_folders_of_streamed_models(streamed_model, monkeypatch, dataset, split):
    model, root, listed, directories = streamed_model

    def decode_all(*args, **kwargs):
        raise AssertionError("the split was decoded into memory")

    monkeypatch.setattr(evaluate_command, "load_dataset", decode_all)
    result = run("evaluate", directories[dataset], "--data-dir", root, "--split", split, "--format", "json",
                 "--workers", 0)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    # The reference: the standard evaluation crop of every listed test image (in val/), one predict.
    images = np.stack([EvalTransform(16)(os.path.join(root, path)) for path, _ in listed["test"]])
    predictions = np.argmax(model.predict(images, verbose=0), axis=1)
    labels = np.array([label for _, label in listed["test"]])
    assert report["num_samples"] == 6
    assert report["top1"] == pytest.approx(100 * np.mean(predictions == labels))
    assert report["few"] == pytest.approx(100 * np.mean(predictions == labels))  # 6, 3, 2 training images: all few
    pooled = run("evaluate", directories[dataset], "--data-dir", root, "--split", split, "--format", "json",
                 "--workers", 1, "--batch-size", 4)
    assert pooled.exit_code == 0 and same_predictions(pooled, result)


def test_evaluate_without_the_split_file_is_one_error_line(streamed_model, tmp_path):
    result = run("evaluate", streamed_model[3]["imagenet_lt"], "--data-dir", tmp_path, "--workers", 0)
    assert_one_line_error(result)
    assert "no ImageNet_LT_test.txt in" in result.stderr


# ---------------------------------------------------------------------------------------------- push


def test_push_dry_run_lists_the_files(tiny):
    result = run("push", tiny[1], "--repo-id", "someone/tiny", "--private", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "huggingface.co/someone/tiny (private)" in result.output
    for name in ("config.json", "model.safetensors", "README.md"):
        assert os.path.join(tiny[1], name) in result.output


@pytest.mark.parametrize("repo_id", ["no-slash", "a/b/c", "a b/c"])
def test_push_rejects_a_bad_repo_id(tiny, repo_id):
    assert_one_line_error(run("push", tiny[1], "--repo-id", repo_id, "--dry-run"))


def test_push_rejects_a_directory_without_checkpoint(tmp_path):
    assert_one_line_error(run("push", tmp_path, "--repo-id", "someone/tiny", "--dry-run"))


# --------------------------------------------------------------------------------------- data profile


def test_data_profile_counts_without_decoding(tmp_path):
    root = tmp_path / "lt"
    for name, count in (("bee", 30), ("ant", 120), ("cat", 4)):
        os.makedirs(root / "train" / name)
        for i in range(count):  # empty files: counted by name, never decoded
            (root / "train" / name / f"{i}.jpg").touch()
    (root / "train" / "cat" / "readme.txt").touch()
    profile = json.loads(run("data", "profile", root, "--format", "json").output)
    assert [(c["name"], c["count"], c["group"]) for c in profile["classes"]] == [
        ("ant", 120, "many"), ("bee", 30, "medium"), ("cat", 4, "few")
    ]
    assert profile["num_images"] == 154 and profile["imbalance_factor"] == pytest.approx(30.0)
    plot = tmp_path / "classes.png"
    result = run("data", "profile", root, "--plot", plot)
    assert result.exit_code == 0, result.stderr
    assert "154 images, 3 classes, imbalance factor 30.00" in result.stdout
    assert [line.split()[1] for line in result.stdout.splitlines()[4:]] == ["ant", "bee", "cat"]
    assert plot.read_bytes().startswith(PNG_SIGNATURE)


def test_data_profile_of_a_folder_without_the_split(tmp_path):
    assert_one_line_error(run("data", "profile", tmp_path, "--split", "train"))


def test_data_profile_of_split_files(tmp_path):
    listed = write_tree(tmp_path)
    for path, _ in listed["train"]:  # counted from the split file alone: no image is opened
        os.remove(tmp_path / path)
    profile = json.loads(run("data", "profile", tmp_path, "--dataset", "imagenet_lt", "--format", "json").output)
    counts = np.bincount([label for _, label in listed["train"]])
    assert [(c["name"], c["count"]) for c in profile["classes"]] == [(f"n0{c}", int(counts[c])) for c in (0, 1, 2)]
    assert profile["num_images"] == counts.sum() and profile["imbalance_factor"] == pytest.approx(counts.max() / counts.min())
    assert profile["group_sizes"] == {"many": 0, "medium": 0, "few": 3}
    result = run("data", "profile", tmp_path, "--dataset", "places_lt")
    assert_one_line_error(result)
    assert "no Places_LT_train.txt in" in result.stderr


# --------------------------------------------------------------------------------------------- train


@pytest.mark.parametrize("recipe", ["my-recipe.json", os.path.join("recipes", "mine")])
def test_train_with_a_missing_recipe_file_says_the_file_is_missing(tmp_path, monkeypatch, recipe):
    monkeypatch.chdir(tmp_path)  # where no such file exists
    result = run("train", "--recipe", recipe)
    assert_one_line_error(result)
    assert result.stderr.startswith(f"Error: no recipe file {recipe}; check the path")


@pytest.mark.parametrize("stop, message", [
    (None, "interrupted before the first epoch was saved; nothing to resume in {out}: run the same command again."),
    (0, "interrupted before the first epoch finished; {out} has no epoch to continue from: run the same command "
        "with --resume to start the run again."),
    (1, "interrupted; {out} keeps the last finished epoch: run the same command with --resume to continue it."),
], ids=["before the run", "in the first epoch", "in the second epoch"])
def test_an_interrupted_train_says_in_one_line_how_to_continue(tmp_path, monkeypatch, tiny_architecture, stop, message):
    """Ctrl-C before the run writes anything, in its first epoch (its backup directory is there, empty) or later."""
    from interruption import interrupting_backup
    from keras_lt import callbacks as lt_callbacks
    from keras_lt import training
    from keras_lt.cli import train as train_command
    from tiny_run import tiny_data
    from tiny_run import tiny_recipe

    out = tmp_path / "run"

    def interrupted(recipe, output, **kwargs):
        if stop is None:  # while the data loads
            raise KeyboardInterrupt
        stopping = interrupting_backup(stop, before_saving=True, base=lt_callbacks.Backup)  # Ctrl-C in epoch `stop`
        monkeypatch.setattr(lt_callbacks, "Backup", stopping)
        training.train(tiny_recipe(), output, data=tiny_data(), verbose=0)

    monkeypatch.setattr(train_command, "run", interrupted)
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--output", out)
    assert_one_line_error(result)
    assert result.stderr.strip() == "Error: " + message.format(out=out)


@pytest.mark.parametrize("stop, kept", [(0, "the finished run"), (1, "the new run")], ids=["in its first epoch", "later"])
def test_an_overwrite_stopped_before_its_first_epoch_finishes_puts_the_finished_run_back(
        tmp_path, monkeypatch, tiny_architecture, stop, kept):
    from interruption import interrupting_backup
    from keras_lt import callbacks as lt_callbacks
    from keras_lt import training
    from keras_lt.cli import train as train_command
    from tiny_run import tiny_data
    from tiny_run import tiny_recipe

    out = tmp_path / "run"
    training.train(tiny_recipe(), out, data=tiny_data(), verbose=0)
    (out / "mine.txt").write_text("a file of the finished run")

    def interrupted(recipe, output, **kwargs):
        monkeypatch.setattr(lt_callbacks, "Backup", interrupting_backup(stop, before_saving=True, base=lt_callbacks.Backup))
        training.train(tiny_recipe(), output, data=tiny_data(), verbose=0)

    monkeypatch.setattr(train_command, "run", interrupted)
    result = run("train", "--recipe", "ce-resnet32-cifar10lt", "--output", out, "--overwrite")
    assert_one_line_error(result)
    assert os.listdir(tmp_path) == ["run"]  # nothing left aside
    if kept == "the finished run":
        assert "keeps the finished run it held: run the same command to replace it again." in result.stderr
        assert (out / "mine.txt").is_file() and not training.is_interrupted(out)
    else:
        assert "keeps the last finished epoch: run the same command with --resume" in result.stderr
        assert not (out / "mine.txt").exists() and training.has_finished_epoch(out)
