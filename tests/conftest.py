"""Shared test setup: the torch backend, one torch thread, and a keras-lt cache that never touches ~/.cache."""

import os

# The tests' models are tiny: a second thread only adds synchronisation, and on a busy machine its
# spinning made the suite several times slower (one crash-safety run: 11 s with two threads, 1 s
# with one). Set before torch is imported; child processes inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Child Pythons (`python -c`, `-m`, the forkserver) must import the keras-lt under test, not the
# source tree in their working directory: CI installs the wheel (keras_lt.cli, keras_lt.zoo), and a
# checkout's keras_lt/ alone lacks them. Python 3.11+: do not prepend the working directory.
os.environ.setdefault("PYTHONSAFEPATH", "1")

import keras_lt  # noqa: E402,F401  (selects the torch backend before any test imports keras)
import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Points `KERAS_LT_CACHE` at a fresh directory for the whole test session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_LT_CACHE", str(tmp_path_factory.mktemp("keras_lt_cache")))
        yield


@pytest.fixture(scope="session")
def tiny_architecture():
    """Registers "test_resnet8" (a ResNet-8 on 8x8 images) as a recipe architecture; returns its name.

    Recipes and checkpoints name their architecture, so tests that train, save or reload through
    them need a registered one; this one is about four times faster than ResNet-32.
    """
    from keras_lt.models import ARCHITECTURES
    from tiny_run import TINY
    from tiny_run import register

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ARCHITECTURES, TINY, None)  # removed again at the end of the session
        register()
        yield TINY
