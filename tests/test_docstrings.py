"""The examples in the docstrings of nn, train, data, datasets, viz, rng, serialization and the helpers run
and print what they say (a docstring that teaches something false fails here)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

matplotlib.use("Agg")

import tinygrad_edu  # noqa: E402

PACKAGES = ["tinygrad_edu.nn", "tinygrad_edu.train", "tinygrad_edu.viz"]
MODULES = ["tinygrad_edu.rng", "tinygrad_edu._checks", "tinygrad_edu._files", "tinygrad_edu.data",
           "tinygrad_edu.datasets", "tinygrad_edu.serialization", "tinygrad_edu.surfaces"]


def _modules() -> list[str]:
    names = list(MODULES)
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [f"{package}.{info.name}" for info in pkgutil.iter_modules(path)]
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    tinygrad_edu.manual_seed(0)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
