"""`keras_lt.lazy`: a package's names imported on first use, then kept in the package."""

import sys

import pytest

PACKAGE = "lazy_probe"


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package `lazy_probe` exporting `value` of its submodule `heavy` and the submodule `other` itself."""
    root = tmp_path / PACKAGE
    root.mkdir()
    (root / "__init__.py").write_text(
        "from keras_lt.lazy import lazy_exports\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'value': 'lazy_probe.heavy', 'other': 'lazy_probe.other:'})\n"
    )
    (root / "heavy.py").write_text("value = 42\n")
    (root / "other.py").write_text("NAME = 'other'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield __import__(PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_a_name_is_imported_on_first_use_and_kept(package):
    assert f"{PACKAGE}.heavy" not in sys.modules and f"{PACKAGE}.other" not in sys.modules
    assert package.value == 42
    assert f"{PACKAGE}.heavy" in sys.modules and f"{PACKAGE}.other" not in sys.modules
    assert package.__dict__["value"] == 42  # kept: the next access does not go through __getattr__
    assert package.other is sys.modules[f"{PACKAGE}.other"] and package.other.NAME == "other"  # "module:"


def test_dir_lists_the_names_before_they_load(package):
    names = dir(package)
    assert {"value", "other", "lazy_exports"} <= set(names) and names == sorted(names)
    assert f"{PACKAGE}.heavy" not in sys.modules


def test_an_unknown_name_is_the_usual_attribute_error(package):
    with pytest.raises(AttributeError, match=f"^module '{PACKAGE}' has no attribute 'nope'$"):
        package.nope  # noqa: B018
    assert not hasattr(package, "nope")
