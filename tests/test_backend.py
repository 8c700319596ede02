"""Backend selection: keras-lt sets torch, and says how to fix another choice in one line."""

import os
import subprocess
import sys

import pytest


def run_python(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    environment.update(OMP_NUM_THREADS="1", **env)
    command = [sys.executable, "-c", code]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def error_line(result):
    """The exception line of a failed import (the last line of the traceback)."""
    assert result.returncode != 0
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_another_backend_in_the_environment_is_one_error(backend):
    result = run_python("import keras_lt", KERAS_BACKEND=backend)
    line = error_line(result)
    assert line.startswith("keras_lt.errors.KerasLTError: ")
    assert f"KERAS_BACKEND={backend}" in line and "set KERAS_BACKEND=torch" in line


def test_keras_imported_with_another_backend_is_one_error(monkeypatch):
    """`import keras` (configured for, say, TensorFlow) before `import keras_lt`."""
    import keras

    from keras_lt.backend import select_torch_backend
    from keras_lt.errors import KerasLTError

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(KerasLTError) as error:
        select_torch_backend()
    message = str(error.value)
    assert "\n" not in message and "'tensorflow'" in message and "import keras_lt first" in message


def test_import_selects_torch():
    code = "import os, keras_lt, keras; print(os.environ['KERAS_BACKEND'], keras.backend.backend())"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["torch", "torch"]


def test_explicit_torch_is_accepted(monkeypatch):
    from keras_lt.backend import select_torch_backend

    monkeypatch.setenv("KERAS_BACKEND", "torch")
    select_torch_backend()  # keras is already imported, with torch: nothing to complain about
