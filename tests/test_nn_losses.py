"""The losses of nn against PyTorch (values and input gradients) and stable NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812 - the usual alias beside our F

import tinygrad_edu as tg
from tinygrad_edu import nn

try:
    from helpers_nn import assert_close, to_torch
except ImportError:  # tests/ imported as a package
    from tests.helpers_nn import assert_close, to_torch

F = nn.functional
REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [np.float64, np.float32]


def _run(loss_fn, torch_loss_fn, x: np.ndarray, target, dtype, *, torch_target=None, seed=3):
    """Evaluate both losses at x, backpropagate the same upstream gradient, compare value and d/dx."""
    x = np.asarray(x, dtype=dtype)
    xt = tg.tensor(x.copy(), requires_grad=True, dtype=dtype)
    xr = to_torch(x, requires_grad=True)
    ours = loss_fn(xt, target)
    if torch_target is None:
        torch_target = to_torch(target.numpy() if isinstance(target, tg.Tensor) else target)
    ref = torch_loss_fn(xr, torch_target)
    assert ours.shape == tuple(ref.shape)
    assert ours.dtype == np.dtype(dtype)
    assert_close(ours, ref, dtype)
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, ours.shape).astype(dtype)
    if ours.ndim == 0:
        ours.backward()
        ref.backward()
    else:
        ours.backward(tg.tensor(upstream, dtype=dtype))
        ref.backward(to_torch(upstream))
    assert xt.grad is not None and xt.grad.dtype == np.dtype(dtype)
    assert_close(xt.grad, xr.grad, dtype)
    return ours, xt


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- MSELoss, L1Loss ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ours_cls,theirs_cls", [(nn.MSELoss, torch.nn.MSELoss), (nn.L1Loss, torch.nn.L1Loss)],
                         ids=["mse", "l1"])
def test_regression_losses_against_torch(ours_cls, theirs_cls, reduction, dtype):
    rng = _rng(1)
    x = rng.standard_normal((6, 3))
    y = tg.tensor(rng.standard_normal((6, 3)), dtype=dtype)
    _run(ours_cls(reduction=reduction), theirs_cls(reduction=reduction), x, y, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_functional_forms_against_torch(reduction):
    rng = _rng(2)
    x = rng.standard_normal((4, 5))
    y = tg.tensor(rng.standard_normal((4, 5)), dtype=np.float64)
    _run(lambda a, b: F.mse_loss(a, b, reduction=reduction),
         lambda a, b: TF.mse_loss(a, b, reduction=reduction), x, y, np.float64)
    _run(lambda a, b: F.l1_loss(a, b, reduction=reduction),
         lambda a, b: TF.l1_loss(a, b, reduction=reduction), x, y, np.float64)


def test_mse_known_value():
    assert nn.MSELoss()(tg.tensor([1.0, 3.0]), tg.tensor([0.0, 1.0])).item() == 2.5
    assert nn.L1Loss(reduction="sum")(tg.tensor([1.0, 3.0]), tg.tensor([0.0, 1.0])).item() == 3.0


def test_l1_gradient_at_zero_difference_matches_torch():
    x = np.array([1.0, 2.0, 3.0])
    y = tg.tensor([1.0, 0.0, 3.0], dtype=np.float64)
    _run(nn.L1Loss(), torch.nn.L1Loss(), x, y, np.float64)  # sign(0) = 0, as in PyTorch


@pytest.mark.parametrize("ours_fn,theirs_fn", [(F.mse_loss, TF.mse_loss), (F.l1_loss, TF.l1_loss)],
                         ids=["mse", "l1"])
def test_broadcastable_shapes_warn_like_torch(ours_fn, theirs_fn):
    rng = _rng(3)
    x = rng.standard_normal((5, 1))
    y = rng.standard_normal(5)
    with pytest.warns(UserWarning, match="target size") as torch_warning:
        theirs_fn(to_torch(x), to_torch(y))
    assert torch_warning  # PyTorch warns here; so must we
    xt = tg.tensor(x, requires_grad=True, dtype=np.float64)
    xr = to_torch(x, requires_grad=True)
    with pytest.warns(UserWarning, match=r"\(5, 1\)"):
        ours = ours_fn(xt, tg.tensor(y, dtype=np.float64))
    with pytest.warns(UserWarning):
        ref = theirs_fn(xr, to_torch(y))
    # the value is still PyTorch's (broadcast to (5, 5))
    assert_close(ours, ref)
    ours.backward()
    ref.backward()
    assert_close(xt.grad, xr.grad)


def test_same_shapes_do_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(tg.ones(3, 2), tg.zeros(3, 2))
        nn.L1Loss()(tg.ones(3), tg.zeros(3))


def test_unbroadcastable_shapes_are_an_error():
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4,\)|\(4,\).*\(3, 2\)"):
        F.mse_loss(tg.ones(3, 2), tg.zeros(4))


# -- invalid reduction ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [nn.MSELoss, nn.L1Loss, nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss])
def test_invalid_reduction_in_module_names_it(cls):
    with pytest.raises(ValueError, match="'average'"):
        cls(reduction="average")


def test_invalid_reduction_in_functional_names_it():
    x, y = tg.ones(2, 3), tg.zeros(2, 3)
    for call in (lambda: F.mse_loss(x, y, reduction="avg"), lambda: F.l1_loss(x, y, reduction="avg"),
                 lambda: F.binary_cross_entropy_with_logits(x, y, reduction="avg"),
                 lambda: F.cross_entropy(x, tg.tensor([0, 1]), reduction="avg"),
                 lambda: F.nll_loss(x, tg.tensor([0, 1]), reduction="avg")):
        with pytest.raises(ValueError, match="'avg'"):
            call()


# -- CrossEntropyLoss ------------------------------------------------------------------------------


def _ce_data(n=6, c=4, seed=0, extra=()):
    rng = _rng(seed)
    x = rng.standard_normal((n, c) + tuple(extra)) * 2
    y = rng.integers(0, c, size=(n,) + tuple(extra))
    return x, y


def _torch_weight(w, dtype):
    return None if w is None else to_torch(np.asarray(w, dtype=dtype))


def _tg_weight(w, dtype):
    return None if w is None else tg.tensor(w, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_against_torch(reduction, dtype):
    x, y = _ce_data()
    _run(nn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction), x,
         tg.tensor(y), dtype)


def test_cross_entropy_known_value():
    # uniform logits over 4 classes: loss = log 4
    loss = nn.CrossEntropyLoss()(tg.zeros(3, 4, dtype=np.float64), tg.tensor([0, 1, 3]))
    assert loss.item() == pytest.approx(np.log(4), rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 1.0, 0.1]])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.7])
def test_cross_entropy_options_against_torch(weight, ignore_index, label_smoothing, reduction, dtype):
    x, y = _ce_data(n=8, seed=1)
    if ignore_index == -100:
        y[[1, 5]] = -100
    ours = nn.CrossEntropyLoss(weight=_tg_weight(weight, dtype), ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=label_smoothing)
    theirs = torch.nn.CrossEntropyLoss(weight=_torch_weight(weight, dtype), ignore_index=ignore_index,
                                       reduction=reduction, label_smoothing=label_smoothing)
    assert (y == ignore_index).any()
    _run(ours, theirs, x, tg.tensor(y), dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 1.0]])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("extra", [(5,), (2, 3)])
def test_cross_entropy_spatial_against_torch(extra, weight, label_smoothing, reduction):
    x, y = _ce_data(n=4, c=3, seed=2, extra=extra)
    y.reshape(-1)[[0, 7]] = -100
    ours = nn.CrossEntropyLoss(weight=_tg_weight(weight, np.float64), reduction=reduction,
                               label_smoothing=label_smoothing)
    theirs = torch.nn.CrossEntropyLoss(weight=_torch_weight(weight, np.float64), reduction=reduction,
                                       label_smoothing=label_smoothing)
    _run(ours, theirs, x, tg.tensor(y), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 1.0, 0.1]])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets_against_torch(weight, label_smoothing, reduction, dtype):
    rng = _rng(4)
    x = rng.standard_normal((5, 4)) * 2
    probs = rng.dirichlet(np.ones(4), size=5)
    ours = nn.CrossEntropyLoss(weight=_tg_weight(weight, dtype), reduction=reduction,
                               label_smoothing=label_smoothing)
    theirs = torch.nn.CrossEntropyLoss(weight=_torch_weight(weight, dtype), reduction=reduction,
                                       label_smoothing=label_smoothing)
    _run(ours, theirs, x, tg.tensor(probs, dtype=dtype), dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets_spatial_against_torch(reduction):
    rng = _rng(5)
    x = rng.standard_normal((3, 4, 5))
    probs = np.moveaxis(rng.dirichlet(np.ones(4), size=(3, 5)), -1, 1)
    _run(nn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction), x,
         tg.tensor(probs, dtype=np.float64), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_cross_entropy_single_sample_1d_input(reduction, label_smoothing, dtype):
    x = _rng(6).standard_normal(5)
    ours = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    theirs = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    loss, _ = _run(ours, theirs, x, tg.tensor(3), dtype)
    assert loss.shape == ()


def test_cross_entropy_1d_input_with_probabilities():
    rng = _rng(7)
    x = rng.standard_normal(4)
    p = rng.dirichlet(np.ones(4))
    _run(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), x, tg.tensor(p, dtype=np.float64), np.float64)


def test_cross_entropy_all_targets_ignored_is_nan_like_torch():
    x = np.zeros((2, 3))
    y = np.array([-100, -100])
    ours = F.cross_entropy(tg.tensor(x, dtype=np.float64), tg.tensor(y))
    theirs = TF.cross_entropy(to_torch(x), to_torch(y))
    assert np.isnan(theirs.item()) and np.isnan(ours.item())


def _stable_ce(x: np.ndarray, y: np.ndarray):
    """Reference -log softmax(x)[y] and its gradient softmax(x) - onehot(y), with float64 max-shifting."""
    shifted = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    losses = lse - shifted[np.arange(len(y)), y]
    soft = np.exp(shifted - lse[:, None])
    onehot = np.eye(x.shape[1])[y]
    return losses, soft - onehot


@pytest.mark.parametrize("dtype,scale", [(np.float32, 1e4), (np.float64, 1e4), (np.float64, 1e30)])
def test_cross_entropy_huge_logits_finite_and_exact(dtype, scale):
    base = np.array([[1.0, -1.0, 0.5, 0.0],
                     [1.0, -1.0, 0.5, 0.0],
                     [-0.3, 0.9, 0.9, -1.0],
                     [0.2, 0.1, -0.7, 0.25],
                     [0.0, 0.0, 0.0, 0.0]])
    x = (base * scale).astype(dtype)
    y = np.array([0, 1, 2, 3, 1])
    xt = tg.tensor(x, requires_grad=True, dtype=dtype)
    losses = F.cross_entropy(xt, tg.tensor(y), reduction="none")
    ref_losses, ref_grad = _stable_ce(x.astype(np.float64), y)
    assert np.all(np.isfinite(losses.numpy()))
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(losses.numpy(), ref_losses, rtol=rtol, atol=0)
    losses.sum().backward()
    assert np.all(np.isfinite(xt.grad.numpy()))
    np.testing.assert_allclose(xt.grad.numpy(), ref_grad, rtol=rtol, atol=1e-7 if dtype == np.float32 else 1e-15)
    # PyTorch agrees
    theirs = TF.cross_entropy(to_torch(x), to_torch(y), reduction="none")
    assert_close(losses, theirs, dtype)


def test_cross_entropy_huge_logits_mean_and_smoothing_finite():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=np.float32)
    y = np.array([0, 2])
    for kwargs in ({}, {"label_smoothing": 0.1}, {"weight": [1.0, 2.0, 0.5]}):
        w = kwargs.pop("weight", None)
        xt = tg.tensor(x, requires_grad=True)
        xr = to_torch(x, requires_grad=True)
        ours = F.cross_entropy(xt, tg.tensor(y), weight=_tg_weight(w, np.float32), **kwargs)
        ref = TF.cross_entropy(xr, to_torch(y), weight=_torch_weight(w, np.float32), **kwargs)
        assert np.isfinite(ours.item())
        assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
        ours.backward()
        ref.backward()
        np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [4, 7, -1, -5])
def test_cross_entropy_class_index_out_of_range_names_index_and_classes(bad):
    x = tg.zeros(3, 4)
    y = tg.tensor([0, bad, 1])
    with pytest.raises((IndexError, ValueError)) as info:
        F.cross_entropy(x, y)
    message = str(info.value)
    assert str(bad) in message and "4" in message
    with pytest.raises((IndexError, ValueError), match=str(bad)):
        nn.NLLLoss()(x.log_softmax(1), y)


def test_cross_entropy_ignore_index_is_not_out_of_range():
    x = tg.zeros(2, 3)
    F.cross_entropy(x, tg.tensor([0, -100]))
    F.cross_entropy(x, tg.tensor([0, 7]), ignore_index=7)


def test_cross_entropy_float_target_needs_input_shape():
    with pytest.raises(ValueError):
        F.cross_entropy(tg.zeros(3, 4), tg.zeros(3, 3))


def test_cross_entropy_target_shape_mismatch():
    with pytest.raises(ValueError):
        F.cross_entropy(tg.zeros(3, 4), tg.tensor([0, 1]))


def test_cross_entropy_invalid_label_smoothing():
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(tg.zeros(2, 3), tg.tensor([0, 1]), label_smoothing=1.5)


# -- NLLLoss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 1.0, 0.1]])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_nll_loss_against_torch(weight, ignore_index, reduction, dtype):
    x, y = _ce_data(n=7, seed=8)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    y[2] = ignore_index
    ours = nn.NLLLoss(weight=_tg_weight(weight, dtype), ignore_index=ignore_index, reduction=reduction)
    theirs = torch.nn.NLLLoss(weight=_torch_weight(weight, dtype), ignore_index=ignore_index, reduction=reduction)
    _run(ours, theirs, logp, tg.tensor(y), dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_spatial_and_1d_against_torch(reduction):
    x, y = _ce_data(n=2, c=3, seed=9, extra=(4,))
    _run(nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction), x, tg.tensor(y), np.float64)
    _run(nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction), x[0, :, 0], tg.tensor(2),
         np.float64)


def test_log_softmax_then_nll_equals_cross_entropy():
    x, y = _ce_data(seed=10)
    xt = tg.tensor(x, dtype=np.float64)
    a = nn.NLLLoss()(nn.LogSoftmax(dim=1)(xt), tg.tensor(y))
    b = nn.CrossEntropyLoss()(xt, tg.tensor(y))
    assert a.item() == pytest.approx(b.item(), rel=1e-14)


def test_nll_loss_needs_integer_targets():
    with pytest.raises(TypeError):
        F.nll_loss(tg.zeros(2, 3), tg.tensor([0.0, 1.0]))


# -- BCEWithLogitsLoss -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_against_torch(reduction, dtype):
    rng = _rng(11)
    x = rng.standard_normal((6, 3)) * 3
    y = rng.uniform(0, 1, (6, 3))
    y[0] = [0.0, 1.0, 1.0]
    _run(nn.BCEWithLogitsLoss(reduction=reduction), torch.nn.BCEWithLogitsLoss(reduction=reduction), x,
         tg.tensor(y, dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "per_class", "per_element"])
@pytest.mark.parametrize("pos_weight", [None, [3.0, 0.5, 1.0]])
def test_bce_with_logits_weights_against_torch(weight, pos_weight, reduction, dtype):
    rng = _rng(12)
    x = rng.standard_normal((5, 3)) * 2
    y = (rng.uniform(0, 1, (5, 3)) > 0.5).astype(np.float64)
    w = {None: None, "per_class": rng.uniform(0.1, 2, 3), "per_element": rng.uniform(0.1, 2, (5, 3))}[weight]
    ours = nn.BCEWithLogitsLoss(weight=_tg_weight(w, dtype), reduction=reduction,
                                pos_weight=_tg_weight(pos_weight, dtype))
    theirs = torch.nn.BCEWithLogitsLoss(weight=_torch_weight(w, dtype), reduction=reduction,
                                        pos_weight=_torch_weight(pos_weight, dtype))
    _run(ours, theirs, x, tg.tensor(y, dtype=dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_weight", [None, [2.0, 2.0, 0.5, 0.5]])
def test_bce_with_logits_large_logits(dtype, pos_weight):
    x = np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    xt = tg.tensor(x, requires_grad=True, dtype=dtype)
    losses = F.binary_cross_entropy_with_logits(xt, tg.tensor(y, dtype=dtype), reduction="none",
                                                pos_weight=_tg_weight(pos_weight, dtype))
    assert np.all(np.isfinite(losses.numpy()))
    p = np.ones(4) if pos_weight is None else np.asarray(pos_weight)
    # correct with confidence: 0; wrong with confidence: |x| (times pos_weight for a missed positive)
    np.testing.assert_allclose(losses.numpy(), [0.0, 0.0, 1e4, 1e4 * p[3]], rtol=1e-7, atol=0)
    losses.sum().backward()
    # d/dx = sigmoid(x) (1 + (p-1) y) - p y  ->  0, 0, 1, -p
    np.testing.assert_allclose(xt.grad.numpy(), [0.0, 0.0, 1.0, -p[3]], rtol=1e-7, atol=0)
    xr = to_torch(x, requires_grad=True)
    ref = TF.binary_cross_entropy_with_logits(xr, to_torch(y), reduction="none",
                                              pos_weight=_torch_weight(pos_weight, dtype))
    assert_close(losses, ref, dtype)
    ref.sum().backward()
    assert_close(xt.grad, xr.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_gradient_exact_at_zero(dtype):
    y = np.array([0.0, 1.0, 0.25, 0.5, 0.75], dtype=dtype)
    xt = tg.zeros(5, dtype=dtype, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(xt, tg.tensor(y, dtype=dtype), reduction="sum")
    assert loss.item() == pytest.approx(5 * np.log(2), rel=1e-6 if dtype == np.float32 else 1e-15)
    loss.backward()
    np.testing.assert_array_equal(xt.grad.numpy(), (0.5 - y).astype(dtype))  # sigmoid(0) - y, exactly


def test_bce_with_logits_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        F.binary_cross_entropy_with_logits(tg.zeros(3, 1), tg.zeros(3))


def test_losses_work_inside_a_training_graph():
    """A loss on a model's output sends gradient into the model's parameters, as in PyTorch."""
    rng = _rng(13)
    x = rng.standard_normal((8, 3))
    y = rng.integers(0, 4, 8)
    ours = nn.Linear(3, 4, dtype=np.float64)
    theirs = torch.nn.Linear(3, 4).double()
    with torch.no_grad():
        theirs.weight.copy_(to_torch(ours.weight.numpy()))
        theirs.bias.copy_(to_torch(ours.bias.numpy()))
    nn.CrossEntropyLoss(label_smoothing=0.1)(ours(tg.tensor(x, dtype=np.float64)), tg.tensor(y)).backward()
    torch.nn.CrossEntropyLoss(label_smoothing=0.1)(theirs(to_torch(x)), to_torch(y)).backward()
    assert_close(ours.weight.grad, theirs.weight.grad)
    assert_close(ours.bias.grad, theirs.bias.grad)
