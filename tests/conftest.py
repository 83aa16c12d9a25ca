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
