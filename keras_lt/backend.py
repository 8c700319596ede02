"""Backend selection: keras-lt runs Keras 3 on the PyTorch backend."""

import os
import sys

from keras_lt.errors import KerasLTError


def select_torch_backend():
    """Makes sure Keras uses the torch backend, before Keras is first imported.

    If the user has not chosen a backend, this selects torch. If they chose another one, through
    `KERAS_BACKEND` or by importing Keras configured for another backend, it raises one clear error.

    Raises:
        KerasLTError: Keras is (or is about to be) configured for a backend other than torch.
    """
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen and chosen != "torch":
        raise KerasLTError(
            f"keras-lt needs the torch backend but KERAS_BACKEND={chosen}; "
            "set KERAS_BACKEND=torch (or unset it) before importing keras_lt."
        )
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != "torch":
            raise KerasLTError(
                f"keras-lt needs the torch backend but Keras was already imported with "
                f"'{keras.backend.backend()}'; import keras_lt first or set KERAS_BACKEND=torch."
            )
    os.environ["KERAS_BACKEND"] = "torch"
