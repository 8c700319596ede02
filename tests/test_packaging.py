"""The wheel's package list names every package in the source tree.

CI installs the wheel, not the checkout: a subpackage missing from `pyproject.toml` imports fine in
an editable install and fails only there (it did once, for `keras_lt.distributed`).
"""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_source_package_is_in_the_wheel():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    source = set()
    for name, directory in setuptools["package-dir"].items():
        for init in (ROOT / directory).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / directory).parts
            source.add(".".join((name, *parts)))
    assert source - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - source == set(), "pyproject.toml lists packages that do not exist"
