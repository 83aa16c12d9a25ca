"""The ops' compiled kernels (``tinygrad_edu.ops.kernels``) and their NumPy twins, on what random tests miss.

The layer tests run both paths against PyTorch (the ``op_path`` fixture); here are the edge values
(NaN, infinities, signed zeros), the sizes where ReLU switches to its kernel, and the switch itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu.ops import _fast, kernels

pytestmark = pytest.mark.usefixtures("op_path")


def _edge_values(n: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(n)
    values[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30]
    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [100, _fast.ELEMENTWISE_THRESHOLD + 3])  # below and above the kernel's size
def test_relu_matches_pytorch_with_nan_inf_and_signed_zeros(dtype, size):
    x_np = _edge_values(size).astype(dtype)
    x = tg.tensor(x_np, requires_grad=True, dtype=x_np.dtype)
    xt = torch.tensor(x_np, requires_grad=True)
    out, out_t = tg.relu(x), torch.relu(xt)
    np.testing.assert_array_equal(out.numpy(), out_t.detach().numpy())
    assert out.dtype == x.dtype
    grad = np.random.default_rng(1).standard_normal(size).astype(dtype)
    out.backward(tg.tensor(grad, dtype=grad.dtype))
    out_t.backward(torch.tensor(grad))
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_relu_output_changed_in_place_is_caught_at_backward():
    x = tg.randn(_fast.ELEMENTWISE_THRESHOLD, requires_grad=True)
    y = tg.relu(x)
    with tg.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_max_pool_with_nan_matches_pytorch_values_indices_and_gradient(kwargs):
    x_np = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    x_np[0, 0, 0, 1] = x_np[1, 2, 3, 3] = x_np[1, 2, 3, 2] = np.nan  # one NaN, and two in one window
    x = tg.tensor(x_np, requires_grad=True, dtype=tg.float64)
    xt = torch.tensor(x_np, requires_grad=True)
    out, idx = tg.nn.functional.max_pool2d(x, return_indices=True, **kwargs)
    out_t, idx_t = torch.nn.functional.max_pool2d(xt, return_indices=True, **kwargs)
    np.testing.assert_array_equal(out.numpy(), out_t.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
    grad = np.random.default_rng(1).standard_normal(out_t.shape)
    out.backward(tg.tensor(grad, dtype=tg.float64))
    out_t.backward(torch.tensor(grad))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)  # overlaps add in another order


def test_the_switch_chooses_the_path(op_path):
    assert (_fast.compiled() is kernels) == (op_path == "compiled")
