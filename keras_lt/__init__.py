"""keras-lt: long-tailed image classification with Keras 3 on PyTorch.

    import keras_lt
    model = keras_lt.from_pretrained("ce-resnet32-cifar10lt")
    logits = model.predict(images)  # uint8 NHWC, 0..255
"""

import os as _os
import sys as _sys

from keras_lt.backend import select_torch_backend
from keras_lt.errors import KerasLTError
from keras_lt.interrupts import one_line_interrupts

_CLI = _os.path.basename(_sys.argv[0]) == "keras-lt"
if _CLI:  # a Ctrl-C while the command imports torch and Keras (seconds): one line, no traceback
    one_line_interrupts()
try:
    select_torch_backend()
except KerasLTError as _error:
    if _CLI:  # the CLI: one line, no traceback
        raise SystemExit(f"Error: {_error}") from None
    raise

from keras_lt.lazy import lazy_exports  # noqa: E402

# Imported on first use (PEP 562): `keras-lt --help`, `list` and `info` never load torch or Keras.
__getattr__, __dir__ = lazy_exports(__name__, {
    "data": "keras_lt.data:",
    "layers": "keras_lt.layers:",
    "losses": "keras_lt.losses:",
    "models": "keras_lt.models:",
    "trainers": "keras_lt.trainers:",
    "from_pretrained": "keras_lt.hub",
    "list_models": "keras_lt.hub",
    "save_pretrained": "keras_lt.hub",
})

__version__ = "0.1.0"

__all__ = [
    "data", "from_pretrained", "layers", "list_models", "losses", "models", "save_pretrained", "trainers",
]
