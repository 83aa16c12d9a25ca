"""nn.MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and their functional forms against PyTorch, gradcheck, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import nn

F = nn.functional
TF = torch.nn.functional
pytestmark = pytest.mark.usefixtures("op_path")  # the compiled kernels and the NumPy form alike


def _compare(fn, fn_t, x_np, seed=0):
    """Values and input gradients (random upstream gradient) equal PyTorch's, in float64."""
    x = tg.tensor(x_np, requires_grad=True, dtype=tg.float64)
    xt = torch.tensor(x_np, requires_grad=True)
    out, out_t = fn(x), fn_t(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    grad = np.random.default_rng(seed).standard_normal(out_t.shape)
    out.backward(tg.tensor(grad, dtype=tg.float64))
    out_t.backward(torch.tensor(grad))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


MAX_GRID = [
    dict(kernel_size=2),
    dict(kernel_size=3),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=3, stride=2, dilation=2, padding=1),
    dict(kernel_size=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(2, 3), dilation=(2, 1), ceil_mode=True),
]


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("kwargs", MAX_GRID, ids=_ids)
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (3, 7, 7)])
def test_max_pool2d_matches_pytorch(kwargs, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), x)
    _compare(lambda t: F.max_pool2d(t, **kwargs), lambda t: TF.max_pool2d(t, **kwargs), x)


@pytest.mark.parametrize("kwargs", MAX_GRID, ids=_ids)
def test_max_pool2d_return_indices_as_pytorch(kwargs):
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 8))
    out, idx = nn.MaxPool2d(return_indices=True, **kwargs)(tg.tensor(x, dtype=tg.float64))
    out_t, idx_t = torch.nn.MaxPool2d(return_indices=True, **kwargs)(torch.tensor(x))
    np.testing.assert_array_equal(out.numpy(), out_t.numpy())
    assert idx.dtype == tg.int64
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_as_pytorch():
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 0.0, 2.0]]]])
    _compare(lambda t: F.max_pool2d(t, 2, stride=1), lambda t: TF.max_pool2d(t, 2, stride=1), x)
    _compare(lambda t: F.max_pool2d(t, 3, stride=1, padding=1), lambda t: TF.max_pool2d(t, 3, stride=1, padding=1), x)


AVG_GRID = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=1),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1)),
    dict(kernel_size=2, divisor_override=3),
]


@pytest.mark.parametrize("kwargs", AVG_GRID, ids=_ids)
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (3, 7, 7)])
def test_avg_pool2d_matches_pytorch(kwargs, shape):
    x = np.random.default_rng(2).standard_normal(shape)
    _compare(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), x)
    _compare(lambda t: F.avg_pool2d(t, **kwargs), lambda t: TF.avg_pool2d(t, **kwargs), x)


@pytest.mark.parametrize("output_size", [1, (1, 1), 3, (4, 2), (None, 3), (9, 7), (5, 6)])
@pytest.mark.parametrize("shape", [(2, 3, 9, 7), (3, 10, 5)])
def test_adaptive_avg_pool2d_matches_pytorch(output_size, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    _compare(nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size), x)
    _compare(lambda t: F.adaptive_avg_pool2d(t, output_size), lambda t: TF.adaptive_avg_pool2d(t, output_size), x)


@pytest.mark.parametrize("make", [
    lambda: (lambda x: F.max_pool2d(x, 3, stride=2, padding=1)),
    lambda: (lambda x: F.max_pool2d(x, 2, stride=1, dilation=2, ceil_mode=True)),
    lambda: (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)),
    lambda: (lambda x: F.adaptive_avg_pool2d(x, (2, 3))),
])
def test_pooling_gradcheck(make):
    tg.set_default_dtype(tg.float64)
    # distinct values, well apart, so that finite differences never cross a tie of the max
    x = tg.tensor(np.random.default_rng(4).permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) * 0.1,
                  requires_grad=True)
    assert tg.gradcheck(make(), x)


def test_pooling_keeps_float32():
    x = tg.randn(2, 3, 8, 8)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(3)):
        assert layer(x).dtype == tg.float32


def test_pooling_has_no_parameters_and_an_empty_state_dict():
    for layer, layer_t in ((nn.MaxPool2d(2), torch.nn.MaxPool2d(2)), (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
                           (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1))):
        assert list(layer.parameters()) == [] and list(layer.state_dict()) == list(layer_t.state_dict()) == []


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fn, name", [(F.max_pool2d, "max_pool2d"), (F.avg_pool2d, "avg_pool2d")])
def test_bad_pooling_input_is_a_clear_error(fn, name):
    expected = rf"{name}: expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(8, 8\)"
    with pytest.raises(ValueError, match=expected):
        fn(tg.randn(8, 8), 2)
    with pytest.raises(ValueError, match=rf"{name}: stride must be an integer >= 1.*got 0"):
        fn(tg.randn(1, 1, 8, 8), 2, stride=0)
    with pytest.raises(ValueError, match=rf"{name}: padding must be at most half of kernel_size"):
        fn(tg.randn(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match=rf"{name}: the window .* is larger than the padded input \(2, 2\)"):
        fn(tg.randn(1, 1, 2, 2), 3)


def test_bad_pooling_layer_arguments():
    with pytest.raises(ValueError, match=r"MaxPool2d: stride must be an integer >= 1.*got 0"):
        nn.MaxPool2d(2, stride=0)
    with pytest.raises(ValueError, match=r"AvgPool2d: kernel_size must be"):
        nn.AvgPool2d(0)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size must be an integer >= 1"):
        nn.AdaptiveAvgPool2d(0)(tg.randn(1, 2, 4, 4))
