"""Fixtures shared by every test."""

from __future__ import annotations

import pytest

import tinygrad_edu as tg
from tinygrad_edu import autograd as _autograd


@pytest.fixture(autouse=True)
def _restore_global_state():
    """No test may leak a changed default dtype or grad mode into another."""
    dtype, mode = tg.get_default_dtype(), _autograd._grad_enabled
    yield
    tg.set_default_dtype(dtype)
    _autograd._grad_enabled = mode


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(params=["compiled", "numpy"])
def op_path(request, monkeypatch):
    """Run a test twice: with the ops' compiled kernels (the default) and with their readable NumPy form.

    A module opts in with ``pytestmark = pytest.mark.usefixtures("op_path")``; both paths are then held
    to the same reference (PyTorch, finite differences).
    """
    from tinygrad_edu.ops import kernels

    if request.param == "compiled" and not kernels.ENABLED:
        pytest.skip("numba's JIT is disabled")
    monkeypatch.setattr(kernels, "ENABLED", request.param == "compiled")
    return request.param
