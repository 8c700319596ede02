"""`keras_lt.cli.predict`: `keras-lt predict`, its file walk, top-k and its table, CSV and JSON outputs."""

import csv
import io
import json
import os

import numpy as np
import pytest

import keras_lt
from cli_run import CLASSES
from cli_run import SIZE
from cli_run import TRAIN_COUNTS
from cli_run import assert_one_line_error
from cli_run import expected_probabilities
from cli_run import run
from cli_run import tiny  # noqa: F401  (a fixture)
from cli_run import write_image
from keras_lt.cli import predict as predict_command

SAMPLE_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# The CLI predicts in batches of other shapes than the reference's one image: the float32 logits
# (O(1), `untrained_resnet32`) then differ by rounding, the probabilities by up to ~1.3e-7 (measured).
# Probabilities lie in 0..1, so an absolute tolerance 8x that, and no relative one, is what is compared.
ATOL = 1e-6


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
        np.testing.assert_allclose([by_class[c] for c in CLASSES], reference, rtol=0, atol=ATOL)


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
                                   [p["probability"] for p in theirs["predictions"]], rtol=0, atol=ATOL)


def test_predict_with_posthoc_logit_adjustment(tiny, images):
    model, directory = tiny
    paths = [images[k] for k in ("rgb", "grey", "rgba", "palette", "nested")]
    result = run("predict", directory, *paths, "--top-k", 3, "--format", "json", "--logit-adjust", 1.5)
    assert result.exit_code == 0, result.stderr
    entries = json.loads(result.stdout)
    assert [entry["path"] for entry in entries] == paths
    log_prior = np.log(np.array(TRAIN_COUNTS) / np.sum(TRAIN_COUNTS))
    changed = 0
    for entry in entries:
        by_class = {p["class"]: p["probability"] for p in entry["predictions"]}
        log_probabilities = np.log(expected_probabilities(model, entry["path"]))
        adjusted = np.exp(log_probabilities - 1.5 * log_prior)  # softmax(log p(y|x) - tau log p(y)), Menon et al.
        np.testing.assert_allclose([by_class[c] for c in CLASSES], adjusted / adjusted.sum(), rtol=0, atol=ATOL)
        changed += entry["predictions"][0]["class"] != CLASSES[int(np.argmax(log_probabilities))]
    assert changed > 0  # the adjustment moves a top-1 class: the test tells it from no adjustment


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



def test_top_k_beyond_the_classes_shows_every_class(tiny, images):
    result = run("predict", tiny[1], images["rgb"], "--format", "json")  # the default --top-k 5, of 3 classes
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert sorted(p["class"] for p in entry["predictions"]) == CLASSES


def test_image_files_keeps_files_as_given_and_walks_folders_in_name_order(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt", "z/c.webp", "a_sub/d.gif", "a_sub/e.csv"):
        os.makedirs(os.path.dirname(tmp_path / "folder" / name), exist_ok=True)
        (tmp_path / "folder" / name).touch()  # empty: the walk goes by extension, nothing is opened
    given = [str(tmp_path / "missing.jpg"), str(tmp_path / "folder")]
    found = [os.path.relpath(path, tmp_path) for path in predict_command.image_files(given)]
    walked = ("a.JPG", "b.png", "a_sub/d.gif", "z/c.webp")  # a folder's files, then its subfolders, by name
    assert found == ["missing.jpg", *(os.path.join("folder", name) for name in walked)]


def test_predict_on_a_folder_follows_linked_folders_and_says_what_it_skips(tiny, tmp_path):
    folder = tmp_path / "photos"
    first = write_image(folder / "1.png", "RGB", (10, 10), seed=1)
    linked = write_image(tmp_path / "elsewhere" / "2.png", "RGB", (10, 10), seed=2)
    write_image(folder / ".ipynb_checkpoints" / "1-checkpoint.png", "RGB", (10, 10), seed=3)  # hidden: left out
    (folder / "._1.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # hidden: left out
    os.symlink(tmp_path / "elsewhere", folder / "more")
    os.symlink(folder, folder / "more" / "back")  # a loop
    os.symlink(tmp_path / "missing.jpg", folder / "broken.jpg")
    os.mkfifo(folder / "pipe.jpg")
    result = run("predict", tiny[1], folder, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert [p["path"] for p in json.loads(result.stdout)] == [first, str(folder / "more" / "2.png")]
    assert os.path.samefile(folder / "more" / "2.png", linked)
    assert result.stderr.splitlines() == [
        f"skipped: {folder / 'broken.jpg'}: a broken link (what it points to does not exist)",
        f"skipped: {folder / 'pipe.jpg'}: not a regular file",
        f"skipped: {folder / 'more' / 'back'}: a link to a folder already searched",
    ]


def test_top_k_predictions_most_probable_first_ties_in_class_order():
    probabilities = np.array([[0.1, 0.6, 0.3], [0.25, 0.5, 0.25]])
    results = predict_command.top_k_predictions(["x.png", "y.png"], probabilities, CLASSES, 2)
    assert results == [
        {"path": "x.png", "predictions": [{"class": "bee", "probability": 0.6}, {"class": "cat", "probability": 0.3}]},
        {"path": "y.png", "predictions": [{"class": "bee", "probability": 0.5}, {"class": "ant", "probability": 0.25}]},
    ]


RESULTS = [
    {"path": "a.png", "predictions": [{"class": "cat", "probability": 0.75}, {"class": "ant", "probability": 0.25}]},
    {"path": "dir/b.jpg",
     "predictions": [{"class": "ant", "probability": 0.5}, {"class": "bee", "probability": 0.125}]},
]


def test_format_table_aligns_paths_and_top_k_columns():
    assert predict_command.format_table(RESULTS).splitlines() == [
        "image      top-1        top-2",
        "a.png      cat  75.00%  ant  25.00%",
        "dir/b.jpg  ant  50.00%  bee  12.50%",
    ]


def test_format_csv_one_row_per_image_and_rank():
    assert predict_command.format_csv(RESULTS).splitlines() == [
        "path,rank,class,probability",
        "a.png,1,cat,0.750000",
        "a.png,2,ant,0.250000",
        "dir/b.jpg,1,ant,0.500000",
        "dir/b.jpg,2,bee,0.125000",
    ]


def test_a_checkpoint_trained_on_streamed_data_predicts_on_its_evaluation_view(tiny, tmp_path):
    """Resize the shorter side to 256/224 of the crop, then a centre crop: what `evaluate` scored it on."""
    from PIL import Image

    model, _ = tiny
    directory = str(tmp_path / "streamed")
    keras_lt.save_pretrained(
        model, directory, class_names=CLASSES, train_class_counts=TRAIN_COUNTS, dataset={"name": "folder"},
        recipe={"name": "streamed", "dataset": "folder", "pipeline": "stream", "image_size": SIZE},
    )
    wide = write_image(tmp_path / "wide.png", "RGB", (30, 20), seed=6)  # a PNG: decoded at full size, no JPEG draft
    result = run("predict", directory, wide, "--top-k", len(CLASSES), "--format", "json")
    assert result.exit_code == 0, result.stderr
    with Image.open(wide) as image:  # 30 x 20: the short side 20 -> round(8 * 256 / 224) = 9
        resized = image.convert("RGB").resize((13, 9), Image.BILINEAR)  # (int(9 * 30 / 20), 9)
    view = np.asarray(resized.crop((2, 0, 2 + SIZE, SIZE)))  # left round(5 / 2) = 2, top 0
    logits = np.asarray(model.predict(view[None], verbose=0), dtype=np.float64)[0]
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    (entry,) = json.loads(result.stdout)
    got = {p["class"]: p["probability"] for p in entry["predictions"]}
    np.testing.assert_allclose([got[c] for c in CLASSES], expected, atol=ATOL, rtol=0)
    fitted = expected_probabilities(model, wide)  # the in-memory view: another crop, other probabilities
    assert np.abs(fitted - expected).max() > 10 * ATOL
