"""Fixtures shared by every test."""

from __future__ import annotations

import os

import pytest

import tinygrad_edu as tg
from tinygrad_edu import autograd as _autograd

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` runs two workers on two cores: each gets one BLAS thread. With OpenBLAS's default of one
    # thread per core, the four threads contend and a small matmul can take 50x longer while the other worker
    # is busy. (threadpoolctl comes with scikit-learn, a test extra.)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the test extra installs it
        pass
    else:
        threadpool_limits(1, user_api="blas")


@pytest.fixture(autouse=True)
def _restore_global_state():
    """No test may leak a changed default dtype or grad mode (this thread's, see `autograd._mode`) into another."""
    dtype, mode, recorder = tg.get_default_dtype(), _autograd._mode.grad_enabled, _autograd._mode.recorder
    yield
    tg.set_default_dtype(dtype)
    _autograd._mode.grad_enabled = mode
    _autograd._mode.recorder = recorder


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
