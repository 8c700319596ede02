"""Shared test setup: the torch backend, and a keras-lt cache that never touches ~/.cache."""

import keras_lt  # noqa: F401  (selects the torch backend before any test imports keras)
import pytest


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
