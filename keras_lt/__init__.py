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

from keras_lt import data  # noqa: E402
from keras_lt import layers  # noqa: E402
from keras_lt import losses  # noqa: E402
from keras_lt import models  # noqa: E402
from keras_lt import trainers  # noqa: E402
from keras_lt.hub import from_pretrained  # noqa: E402
from keras_lt.hub import list_models  # noqa: E402
from keras_lt.hub import save_pretrained  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "data", "from_pretrained", "layers", "list_models", "losses", "models", "save_pretrained", "trainers",
]
