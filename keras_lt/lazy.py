"""`lazy_exports`: a package's public names imported on first use (PEP 562), so start-up stays fast."""

import importlib


def lazy_exports(package, exports):
    """The `__getattr__` and `__dir__` of a package whose names load on first access.

    `keras-lt --help`, `list` and `info` never touch torch or Keras because nothing imports them
    until a name that needs them is used.

    Args:
        package: the package's `__name__`.
        exports: `{name: "module"}` (the name is that module's attribute) or `{name: "module:"}`
            (the name is that module itself).

    Returns:
        `(__getattr__, __dir__)` to assign in the package's `__init__`.

    Example:
    >>> __getattr__, __dir__ = lazy_exports(__name__, {"load_dataset": "keras_lt.data.sources"})
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        module = exports[name]
        value = importlib.import_module(module[:-1]) if module.endswith(":") else getattr(
            importlib.import_module(module), name
        )
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value
        return value

    def __dir__():
        return sorted({*importlib.import_module(package).__dict__, *exports})

    return __getattr__, __dir__
