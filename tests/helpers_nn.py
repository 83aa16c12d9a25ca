"""Shared helpers for the nn, loss, serialization and optimizer tests: moving data to PyTorch."""

from __future__ import annotations

import numpy as np
import torch

import tinygrad_edu as tg


def to_torch(array: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """An independent torch copy of ``array`` (never sharing memory with the library)."""
    return torch.tensor(np.asarray(array).copy(), requires_grad=requires_grad)


def t64(array: np.ndarray, requires_grad: bool = False) -> tg.Tensor:
    """A float64 library tensor of ``array``."""
    return tg.tensor(np.array(array, dtype=np.float64), requires_grad=requires_grad, dtype=tg.float64)


def tg_of(array: np.ndarray) -> tg.Tensor:
    """A library tensor of ``array`` keeping its dtype (bool or float64 masks)."""
    return tg.tensor(array, dtype=array.dtype)


def copy_linear(tg_layer: tg.nn.Linear, torch_layer: torch.nn.Linear) -> None:
    """Copy a tinygrad_edu Linear's parameters into a torch Linear of the same shape."""
    with torch.no_grad():
        torch_layer.weight.copy_(to_torch(tg_layer.weight.numpy()))
        if tg_layer.bias is not None:
            torch_layer.bias.copy_(to_torch(tg_layer.bias.numpy()))


def assert_close(actual, expected, dtype=np.float64, rtol=None, atol=None) -> None:
    """Compare arrays/tensors with tolerances suited to ``dtype``."""
    if isinstance(actual, tg.Tensor):
        actual = actual.numpy()
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    if rtol is None:
        rtol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    if atol is None:
        atol = 1e-12 if np.dtype(dtype) == np.float64 else 1e-6
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)
