"""`keras_lt.cli.data`: `keras-lt data profile`, the class counts of a folder or split file and their table."""

import json
import os

import numpy as np
import pytest

from cli_run import PNG_SIGNATURE
from cli_run import assert_one_line_error
from cli_run import run
from imagenet_lt_tree import write_tree
from keras_lt.cli import data


def write_empty_files(root, counts):
    """`root/train/<class>/<i>.jpg`, empty files (counted by name, never decoded), `counts` a dict class: count."""
    for name, count in counts.items():
        os.makedirs(root / "train" / name)
        for i in range(count):
            (root / "train" / name / f"{i}.jpg").touch()
    return root


def test_data_profile_counts_without_decoding(tmp_path):
    root = write_empty_files(tmp_path / "lt", {"bee": 30, "ant": 120, "cat": 4})
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



def test_profile_dataset_groups_classes_at_the_thresholds(tmp_path):
    root = write_empty_files(tmp_path / "lt", {"e": 20, "d": 19, "c": 20, "b": 100, "a": 101})
    assert data.profile_dataset(str(root), "train") == {
        "root": str(root),
        "split": "train",
        "num_images": 260,
        "num_classes": 5,
        "imbalance_factor": pytest.approx(101 / 19),
        "thresholds": {"many": 100, "few": 20},
        "group_sizes": {"many": 1, "medium": 3, "few": 1},  # many > 100, few < 20
        "classes": [  # largest first, ties by name
            {"name": "a", "count": 101, "group": "many"},
            {"name": "b", "count": 100, "group": "medium"},
            {"name": "c", "count": 20, "group": "medium"},
            {"name": "e", "count": 20, "group": "medium"},
            {"name": "d", "count": 19, "group": "few"},
        ],
    }


def test_format_profile_a_summary_then_a_row_a_class():
    profile = {
        "root": "photos", "split": "train", "num_images": 8, "num_classes": 2, "imbalance_factor": 3.0,
        "group_sizes": {"many": 0, "medium": 0, "few": 2},
        "classes": [{"name": "a", "count": 6, "group": "few"}, {"name": "b", "count": 2, "group": "few"}],
    }
    assert data.format_profile(profile).splitlines() == [
        "photos/train: 8 images, 2 classes, imbalance factor 3.00",
        "many 0, medium 0, few 2 classes (many > 100, few < 20 images)",
        "",
        "rank  class   images   share  group",
        "   1  a            6   75.0%  few",
        "   2  b            2   25.0%  few",
    ]


def test_data_profile_of_an_empty_class_folder_is_one_error_line(tmp_path):
    root = write_empty_files(tmp_path / "lt", {"ant": 3, "bee": 0})
    result = run("data", "profile", root)
    assert_one_line_error(result)
    assert result.stderr.strip() == (
        f"Error: class folder {root / 'train' / 'bee'} holds no image files; add images or remove the folder."
    )


@pytest.mark.parametrize("plot", ["afile/x.png", "/sys/fs/x.png"], ids=["under a file", "no permission"])
def test_a_plot_that_cannot_be_written_is_one_error_line_before_the_data_is_read(tmp_path, monkeypatch, plot):
    if plot.startswith("/sys/") and not os.path.isdir("/sys/fs"):
        pytest.skip("needs Linux's /sys, where no file can be created")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    root = write_empty_files(tmp_path / "lt", {"ant": 3})
    result = run("data", "profile", root, "--plot", plot)
    assert_one_line_error(result)
    assert result.stderr.startswith(f"Error: cannot write in {os.path.dirname(plot)}: ")
    assert result.stderr.strip().endswith("; choose another --plot.")
    assert result.stdout == ""  # the profile was not made
    assert (tmp_path / "afile").read_text() == "not a folder"
