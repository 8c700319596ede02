"""Tests of keras_lt.data.image_files: the decoding-worker default and ImageFiles' shape and indexing."""

import os

import numpy as np
import pytest

from keras_lt.data.image_files import DEFAULT_IMAGE_SIZE
from keras_lt.data.image_files import WORKERS_ENV
from keras_lt.data.image_files import ImageFiles
from keras_lt.data.image_files import default_workers

PATHS = [f"train/c{i % 3}/{i}.jpg" for i in range(7)]


@pytest.mark.parametrize("cores, expected", [(32, 8), (3, 3), (None, 1)])
def test_default_workers_are_the_cores_at_most_eight(monkeypatch, cores, expected):
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert default_workers() == expected


def test_the_environment_sets_the_workers(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "0")
    assert default_workers() == 0
    monkeypatch.setenv(WORKERS_ENV, "13")
    assert default_workers() == 13 and ImageFiles(PATHS).workers == 13
    assert ImageFiles(PATHS, workers=2).workers == 2


def test_shape_and_length():
    files = ImageFiles(PATHS, image_size=48.0, workers=0)
    assert len(files) == 7 and files.shape == (7, 48, 48, 3) and files.image_size == 48
    assert files.paths.dtype == object and list(files.paths) == PATHS
    assert ImageFiles(PATHS, workers=0).shape == (7, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE, 3) == (7, 224, 224, 3)


@pytest.mark.parametrize(
    "index, kept",
    [(3, [3]), (-1, [6]), (slice(1, 7, 2), [1, 3, 5]), (np.array([4, 0, 4]), [4, 0, 4]),
     (np.arange(7) % 3 == 0, [0, 3, 6])],
    ids=["int", "negative", "slice", "indices", "mask"],
)
def test_indexing_selects_files_as_an_array_would(index, kept):
    subset = ImageFiles(PATHS, image_size=32, workers=1)[index]
    assert isinstance(subset, ImageFiles)
    assert list(subset.paths) == [PATHS[i] for i in kept]
    assert subset.shape == (len(kept), 32, 32, 3) and subset.workers == 1
