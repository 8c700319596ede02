"""`keras_lt.cli.evaluate`: `keras-lt evaluate` on folders, held-out and streamed splits, and its checks of the data."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_lt
from cli_run import CLASSES
from cli_run import PNG_SIGNATURE
from cli_run import SIZE
from cli_run import TRAIN_COUNTS
from cli_run import assert_one_line_error
from cli_run import expected_probabilities
from cli_run import fit
from cli_run import run
from cli_run import standardise_logits
from cli_run import tiny  # noqa: F401  (a fixture)
from cli_run import untrained_resnet32
from cli_run import write_folder
from imagenet_lt_tree import TRAIN_COUNTS as TREE_TRAIN_COUNTS
from imagenet_lt_tree import write_tree
from keras_lt import inference
from keras_lt import training
from keras_lt import training_data
from keras_lt.cli import evaluate as evaluate_command
from keras_lt.data.eval_transform import EvalTransform
from keras_lt.data.image_files import WORKERS_ENV
from tiny_run import tiny_folder
from tiny_run import tiny_recipe


@pytest.fixture
def test_folder(tmp_path):
    """`test/<class>/` with 2, 3 and 2 RGB PNGs of 10x10 (resized to the model's 8x8)."""
    return write_folder(tmp_path / "data", {"test": (2, 3, 2)})


# The CLI's NLL of its float32 logits (O(1)), predicted in one batch, against a reference that predicts one
# image at a time: they differ by up to ~1.2e-6 of rounding (measured); 0 when the reference predicts the batch.
NLL_ATOL = 1e-5


def folder_files(root, split="test", classes=CLASSES):
    """`(paths, labels)` of `<root>/<split>/<class>/*`, listed here: classes in the order given, files by name."""
    paths, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted(os.listdir(root / split / name)):
            paths.append(root / split / name / file)
            labels.append(label)
    return paths, np.array(labels)


def softmax(logits):
    """Row-wise softmax in float64."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def assert_scored(report, probabilities, labels):
    """`report` counts the predictions of `probabilities` (N, C) on `labels` and their NLL; returns the predictions."""
    predictions = np.argmax(probabilities, axis=1)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(confusion, (labels, predictions), 1)
    assert report["num_samples"] == len(labels)
    assert report["confusion_matrix"] == confusion.tolist()
    assert report["top1"] == pytest.approx(100 * np.mean(predictions == labels))
    nll = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
    assert report["nll"] == pytest.approx(nll, abs=NLL_ATOL)
    return predictions


def test_evaluate_json_plots_and_confusion_pairs(tiny, test_folder, tmp_path):
    model, directory = tiny
    plots = tmp_path / "plots"
    result = run(
        "evaluate", directory, "--data-dir", test_folder, "--format", "json", "--plots", plots,
        "--confusion-pairs", 2,
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    paths, labels = folder_files(test_folder)  # the reference: predictions on images read here
    predictions = assert_scored(report, np.stack([expected_probabilities(model, p) for p in paths]), labels)
    assert len(set(predictions)) >= 2 and 0 < np.sum(predictions == labels) < len(labels)  # a wrong label shows
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
    paths, labels = folder_files(test_folder)
    log_probabilities = np.log(np.stack([expected_probabilities(model, p) for p in paths]))
    log_prior = np.log(np.array(TRAIN_COUNTS) / np.sum(TRAIN_COUNTS))
    adjusted = softmax(log_probabilities - tau * log_prior)  # softmax(log p(y|x) - tau log p(y)), Menon et al.
    predictions = assert_scored(report, adjusted, labels)
    # The adjustment changes predictions, and not as its opposite would: neither a missing adjustment nor
    # one of the wrong sign gives this report.
    assert np.any(predictions != np.argmax(log_probabilities, axis=1))
    assert np.any(predictions != np.argmax(log_probabilities + tau * log_prior, axis=1))


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


@pytest.mark.skipif(not os.path.isdir("/sys/fs"), reason="needs a folder no one may write in (Linux's sysfs)")
@pytest.mark.parametrize("option, path", [("--output", "/sys/fs/report.txt"), ("--plots", "/sys/fs/plots")])
def test_evaluate_refuses_a_location_it_cannot_write_before_evaluating(tiny, test_folder, monkeypatch, option, path):
    monkeypatch.setattr(evaluate_command, "load_model", lambda model: pytest.fail("evaluated"))
    result = run("evaluate", tiny[1], "--data-dir", test_folder, option, path)
    assert_one_line_error(result)
    folder = os.path.dirname(path) if option == "--output" else path
    assert result.stderr.startswith(f"Error: cannot write in {folder}: /sys/fs is not writable (")
    assert result.stderr.strip().endswith(f"); choose another {option}.")  # Permission denied, Operation not permitted


@pytest.fixture
def folder_run(tiny, test_folder, tmp_path):
    """The tiny model saved as a run on the image folder `test_folder`, which has test/: nothing held out."""
    directory = str(tmp_path / "base")
    keras_lt.save_pretrained(tiny[0], directory, class_names=CLASSES, train_class_counts=TRAIN_COUNTS,
                             dataset={"name": "folder", "data_dir": str(test_folder)}, recipe={"dataset": "folder"})
    return directory


def test_evaluate_on_a_folder_without_test_of_a_run_that_held_nothing_out_says_so(folder_run, test_folder, tmp_path):
    grey = write_folder(tmp_path / "grey", {"train": (2, 2, 2)})
    result = run("evaluate", folder_run, "--data-dir", grey)
    assert_one_line_error(result)  # not "grey/train no longer holds the images runs/base was trained on"
    assert result.stderr.strip() == (
        f"Error: {grey} has no test/ folder: {folder_run} was tested on {test_folder / 'test'}, not on images held out "
        "of train/; give a folder with test/<class>/<images>."
    )


def test_the_run_records_whether_it_held_its_test_split_out_and_evaluate_reads_that(folder_run, tmp_path):
    """Not where its folder is now: a relative path from another directory, or a folder since moved, says nothing."""
    with open(os.path.join(folder_run, "config.json")) as f:
        config = json.load(f)
    moved = tmp_path / "moved"
    shutil.copytree(folder_run, moved)
    config["dataset"].update(data_dir=str(tmp_path / "gone"), test_held_out=False)  # as training.finish records it
    (moved / "config.json").write_text(json.dumps(config))
    grey = write_folder(tmp_path / "grey", {"train": (2, 2, 2)})
    result = run("evaluate", moved, "--data-dir", grey)
    assert_one_line_error(result)
    assert f"Error: {grey} has no test/ folder: {moved} was tested on {tmp_path / 'gone' / 'test'}" in result.stderr


def test_evaluate_on_a_folder_that_does_not_exist_says_so(folder_run, tmp_path):
    result = run("evaluate", folder_run, "--data-dir", tmp_path / "missing")
    assert_one_line_error(result)  # not "no 'train' folder in ..."
    assert result.stderr.strip() == (
        f"Error: {tmp_path / 'missing'} does not exist; pass --data-dir with an image folder (test/<class>/<images>)."
    )


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
    assert keras_lt.from_pretrained(out).keras_lt_config["dataset"]["test_held_out"] is True  # recorded by the run
    paths, labels = folder_files(Path(folder), "train", ["c0", "c1", "c2"])
    views = np.stack([pipeline_view(path, recipe) for path in paths])
    # Two epochs leave the network predicting one class for every file (in memory with p > 0.99), so any
    # files would score alike; with its classifier standardised over train/ (the run's checkpoint saved
    # again), each file's loss is its own, and the NLL tells which files were held out.
    model = standardise_logits(keras_lt.from_pretrained(out), views)
    keras_lt.save_pretrained(model, out)
    result = run("evaluate", out, "--data-dir", folder, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["num_samples"] == trained["num_samples"] == 3  # one of each class: 8, 6, 4 less validation
    held = held_out_reference(labels, recipe.val_split, recipe.seed)
    probabilities = softmax(np.asarray(model.predict(views, verbose=0), dtype=np.float64))
    assert_scored(report, probabilities[held], labels[held])
    losses = -np.log(probabilities[np.arange(len(labels)), labels])
    for i in held:  # holding out another file of its class instead would move the NLL by over 10 NLL_ATOL
        others = losses[(labels == labels[i]) & (np.arange(len(labels)) != i)]
        assert np.min(np.abs(others - losses[i])) / len(held) > 10 * NLL_ATOL
    assert "held out for its test metrics" in result.stderr
    os.remove(os.path.join(folder, "train", "c2", "0.png"))
    changed = run("evaluate", out, "--data-dir", folder)
    assert_one_line_error(changed)
    assert "no longer holds the images" in changed.stderr


def held_out_reference(labels, val_split, seed):
    """Indices into `labels` (train/ as listed) of the test split a run holds out, drawn here with NumPy.

    As `keras_lt.training_data.held_out_test` documents it: `val_split` of every class goes to validation
    (seed `seed`), then `training_data.HOLDOUT` of every class of the rest to the test split (seed
    `seed + 1`). A draw, as `keras_lt.data.splits.stratified_split` makes it (tests/test_splits.py
    checks its counts, not which images): one generator of the seed permutes each class's images in
    label order, and the first `round(n * fraction)` are drawn (at least 1, and 1 is left).
    """

    def draw(indices, fraction, seed):
        rng = np.random.default_rng(seed)
        held = []
        for label in np.unique(labels[indices]):
            members = rng.permutation(indices[labels[indices] == label])
            held += members[: min(len(members) - 1, max(1, round(len(members) * fraction)))].tolist()
        return np.sort(held)

    everything = np.arange(len(labels))
    kept = np.setdiff1d(everything, draw(everything, val_split, seed))
    return draw(kept, training_data.HOLDOUT, seed + 1)


def pipeline_view(path, recipe):
    """The 8x8 pixels of one image of the tiny runs as its recipe's pipeline evaluates it.

    In memory the image is fitted as every command fits it (`cli_run.fit`); streamed, it is the
    standard evaluation crop (`EvalTransform`, tested in tests/test_eval_transform.py).
    """
    if recipe.pipeline == "stream":
        return EvalTransform(SIZE)(str(path))
    with Image.open(path) as image:
        return fit(image)


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
    # Its logits standardised over the training images: the test images of three colours get several classes.
    crops = np.stack([EvalTransform(16)(os.path.join(root, path)) for path, _ in listed["train"]])
    model = untrained_resnet32(3, (16, 16, 3), crops)
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
    assert len(set(predictions)) >= 2  # scoring the images against other labels, or in another order, shows
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


def test_evaluate_matches_classes_of_other_names_by_order_with_a_warning(tiny, test_folder):
    reference = run("evaluate", tiny[1], "--data-dir", test_folder, "--format", "json")
    for old, new in zip(CLASSES, ("x", "y", "z")):  # no name in common: the same classes, named otherwise
        os.rename(test_folder / "test" / old, test_folder / "test" / new)
    result = run("evaluate", tiny[1], "--data-dir", test_folder, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "warning: the data's class names differ from the model's; labels are matched by order.\n"
    assert same_predictions(result, reference)


def test_evaluate_needs_the_checkpoints_dataset_and_training_counts(tiny, test_folder, tmp_path):
    bare = str(tmp_path / "bare")
    keras_lt.save_pretrained(tiny[0], bare, class_names=CLASSES)  # no dataset, no train_class_counts
    result = run("evaluate", bare, "--data-dir", test_folder)
    assert_one_line_error(result)
    assert result.stderr.strip() == f"Error: {bare} does not say which dataset it was trained on; pass --dataset."
    result = run("evaluate", bare, "--data-dir", test_folder, "--dataset", "folder")
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: {bare} has no train_class_counts (they define many/medium/few); save it with "
        "keras_lt.save_pretrained(..., train_class_counts=COUNTS)."
    )


def test_evaluate_refuses_split_files_for_a_model_of_non_square_input(streamed_model, tmp_path):
    directory = str(tmp_path / "oblong")
    model = keras_lt.models.resnet32(3, input_shape=(16, 12, 3))
    keras_lt.save_pretrained(model, directory, class_names=["n00", "n01", "n02"],
                             train_class_counts=list(TREE_TRAIN_COUNTS), dataset={"name": "imagenet_lt"})
    result = run("evaluate", directory, "--data-dir", streamed_model[1], "--workers", 0)
    assert_one_line_error(result)
    assert result.stderr.strip() == "Error: imagenet_lt images are streamed as square crops but the model takes 16x12."


def test_format_pairs_one_line_a_pair():
    pairs = [{"true": "cat", "predicted": "ant", "count": 3}, {"true": "bee", "predicted": "cat", "count": 1}]
    assert evaluate_command.format_pairs(pairs) == "cat -> ant: 3\nbee -> cat: 1"
    assert evaluate_command.format_pairs([]) == ""
