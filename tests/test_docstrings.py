"""The examples in the docstrings of every module of the package run and print what they say (a docstring
that teaches something false fails here)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

matplotlib.use("Agg")

import tinygrad_edu  # noqa: E402


def _modules() -> list[str]:
    """Every module of the package, subpackages included (the command line and the compiled kernels too)."""
    return ["tinygrad_edu"] + [info.name for info in pkgutil.walk_packages(tinygrad_edu.__path__, "tinygrad_edu.")]


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    tinygrad_edu.manual_seed(0)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
