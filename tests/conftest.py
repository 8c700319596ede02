"""Shared test setup: the torch backend, and a keras-lt cache that never touches ~/.cache."""

import keras_lt  # noqa: F401  (selects the torch backend before any test imports keras)
import pytest


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Points `KERAS_LT_CACHE` at a fresh directory for the whole test session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_LT_CACHE", str(tmp_path_factory.mktemp("keras_lt_cache")))
        yield
