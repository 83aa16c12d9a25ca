"""The ops' compiled kernels (``tinygrad_edu.ops.kernels``) and their NumPy twins, on what random tests miss.

The layer tests run both paths against PyTorch (the ``op_path`` fixture); here are the edge values
(NaN, infinities, signed zeros), the sizes where ReLU switches to its kernel, and the switch itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True}])
def test_embedding_gradient_adds_repeated_rows_as_pytorch(kwargs):
    weight_np = np.random.default_rng(0).standard_normal((7, 5))
    indices = np.array([[1, 2, 1, 6], [2, 2, 0, 1]])
    layer, layer_t = tg.nn.Embedding(7, 5, dtype=tg.float64, **kwargs), torch.nn.Embedding(7, 5, **kwargs).double()
    layer.load_state_dict({"weight": weight_np})
    with torch.no_grad():
        layer_t.weight.copy_(torch.tensor(weight_np))
    grad = np.random.default_rng(1).standard_normal((2, 4, 5))
    out, out_t = layer(tg.tensor(indices)), layer_t(torch.tensor(indices))
    out.backward(tg.tensor(grad, dtype=tg.float64))
    out_t.backward(torch.tensor(grad))
    np.testing.assert_allclose(layer.weight.grad.numpy(), layer_t.weight.grad.numpy(), rtol=1e-14, atol=1e-15)


# One step of a CNN, an LSTM and a transformer layer; prints the loss and a gradient norm.
ZOO_STEP = """
import numpy as np
import tinygrad_edu as tg
from tinygrad_edu import nn

def run():
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))
    lstm, norm = nn.LSTM(5, 8, batch_first=True), nn.LayerNorm(8)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=True)
    x = tg.tensor(rng.standard_normal((6, 1, 8, 8)), dtype=tg.float64)
    seq = tg.tensor(rng.standard_normal((6, 7, 5)), dtype=tg.float64)
    for module in (cnn, lstm, norm, layer):
        module.to(tg.float64)
    mask = tg.triu(tg.full((7, 7), float("-inf"), dtype=tg.float64), diagonal=1)  # causal
    loss = (cnn(x) ** 2).mean() + (layer(norm(lstm(seq)[0]), src_mask=mask) ** 2).mean()
    loss.backward()
    params = [*cnn.parameters(), *lstm.parameters(), *norm.parameters(), *layer.parameters()]
    return f"{loss.item():.15e} " + " ".join(f"{float(np.linalg.norm(p.grad.numpy())):.15e}" for p in params)
"""


def test_numba_disable_jit_runs_the_numpy_forms_with_the_same_results(op_path):
    if op_path != "compiled":
        pytest.skip("compares the compiled run with a NUMBA_DISABLE_JIT=1 run")
    namespace = {}
    exec(ZOO_STEP, namespace)
    compiled_result = namespace["run"]().split()
    code = ZOO_STEP + "\nfrom tinygrad_edu.ops import _fast\nassert _fast.compiled() is None\nprint(run())\n"
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(repo)})
    plain_result = done.stdout.split()
    assert len(plain_result) == len(compiled_result) > 10
    np.testing.assert_allclose(np.array(plain_result, dtype=float), np.array(compiled_result, dtype=float),
                               rtol=1e-12)


def test_randperm_loops_compiled_equal_their_python_form(op_path):
    if op_path != "compiled":
        pytest.skip("compares the compiled loops with the Python ones written out here")
    rng = np.random.default_rng(0)
    n = 500
    offsets = np.array([rng.integers(0, n - i) for i in range(n - 1)], dtype=np.int64)
    order = np.arange(n, dtype=np.int64)
    kernels.fisher_yates(order, offsets)
    expected = list(range(n))
    for i, offset in enumerate(offsets):
        expected[i], expected[i + offset] = expected[i + offset], expected[i]
    np.testing.assert_array_equal(order, expected)
    picks = np.array([rng.integers(0, i + 1) for i in range(n)], dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    kernels.inside_out(order, picks)
    expected = [0] * n
    for i, z in enumerate(picks):
        expected[i] = expected[z]
        expected[z] = i
    np.testing.assert_array_equal(order, expected)
    assert sorted(order) == list(range(n))
