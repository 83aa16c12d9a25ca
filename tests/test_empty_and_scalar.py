"""Empty and 0-d tensors through reductions, softmax and losses, compared with PyTorch (issue 13).

For each case the forward value AND the gradient are compared with PyTorch's, in float32 and float64, with
NumPy's RuntimeWarnings turned into errors (PyTorch raises no warning for these). Where PyTorch raises, the
library must raise the same exception type, with the op's name in the message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = ["float32", "float64"]
SCALAR = 2.0
EMPTY_ROWS = np.zeros((0, 3))  # a batch of nothing
EMPTY_COLS = np.zeros((3, 0))  # rows of nothing


def compare(fn_tg, fn_torch, x, dtype: str, *, check_warnings: bool = True) -> None:
    """Forward values and gradients of fn_tg against fn_torch on the same input (NaN must match NaN)."""
    array = np.array(x, dtype=dtype)
    tol = {"float32": dict(rtol=2e-6, atol=0), "float64": dict(rtol=1e-12, atol=0)}[dtype]
    x_torch = torch.tensor(array, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's own UserWarnings are not the library's business
        out_torch = fn_torch(x_torch)
        out_torch.sum().backward()
    x_tg = tg.tensor(array, dtype=getattr(tg, dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error" if check_warnings else "ignore")
        out_tg = fn_tg(x_tg)
        out_tg.sum().backward()
    expected = out_torch.detach().numpy()
    assert out_tg.shape == expected.shape
    assert out_tg.dtype == expected.dtype
    np.testing.assert_allclose(out_tg.numpy(), expected, equal_nan=True, **tol)
    assert x_tg.grad is not None and x_tg.grad.shape == tuple(x_torch.grad.shape)
    np.testing.assert_allclose(x_tg.grad.numpy(), x_torch.grad.numpy(), equal_nan=True, **tol)


def _both(fn):
    return fn, fn


def _target(n: int, like):
    """Class indices 0..n-1 (none for n = 0) in ``like``'s library."""
    if isinstance(like, tg.Tensor):
        return tg.tensor(np.arange(n, dtype=np.int64))
    return torch.arange(n)


def _ones(shape: tuple, like):
    if isinstance(like, tg.Tensor):
        return tg.tensor(np.ones(shape, dtype=like.dtype), dtype=like.dtype)
    return torch.ones(shape, dtype=like.dtype)


def _zeros_like(x):
    if isinstance(x, tg.Tensor):
        return tg.tensor(np.zeros(x.shape, dtype=x.dtype), dtype=x.dtype)
    return torch.zeros_like(x)


CASES = {
    # -- 0-d -----------------------------------------------------------------------------------------------------
    "0-d sum(0)": (*_both(lambda x: x.sum(0)), SCALAR),
    "0-d sum(-1, keepdim)": (*_both(lambda x: x.sum(-1, keepdim=True)), SCALAR),
    "0-d amax(0)": (*_both(lambda x: x.amax(0)), SCALAR),
    "0-d softmax(0)": (*_both(lambda x: x.softmax(0)), SCALAR),
    "0-d log_softmax(0)": (*_both(lambda x: x.log_softmax(0)), SCALAR),
    "0-d logsumexp(0)": (*_both(lambda x: x.logsumexp(0)), SCALAR),
    "0-d prod(0)": (*_both(lambda x: x.prod(0)), SCALAR),
    "0-d cumsum(0)": (*_both(lambda x: x.cumsum(0)), SCALAR),
    "0-d norm()": (*_both(lambda x: x.norm()), SCALAR),
    "0-d max()": (*_both(lambda x: x.max()), SCALAR),
    # -- empty ---------------------------------------------------------------------------------------------------
    "empty sum() is 0": (*_both(lambda x: x.sum()), EMPTY_ROWS),
    "empty sum(0)": (*_both(lambda x: x.sum(0)), EMPTY_ROWS),
    "empty prod() is 1": (*_both(lambda x: x.prod()), EMPTY_ROWS),
    "empty prod(0) is ones": (*_both(lambda x: x.prod(0)), EMPTY_ROWS),
    "empty mean() is nan": (*_both(lambda x: x.mean()), EMPTY_ROWS),
    "empty mean(0) is nans": (*_both(lambda x: x.mean(0)), EMPTY_ROWS),
    "empty mean(1) is empty": (*_both(lambda x: x.mean(1)), EMPTY_ROWS),
    "empty amax over a non-empty dim": (*_both(lambda x: x.amax(1)), EMPTY_ROWS),
    "empty amin over a non-empty dim": (*_both(lambda x: x.amin(1)), EMPTY_ROWS),
    "empty softmax over the empty dim": (*_both(lambda x: x.softmax(0)), EMPTY_ROWS),
    "softmax over an empty dim": (*_both(lambda x: x.softmax(1)), EMPTY_COLS),
    "log_softmax over an empty dim": (*_both(lambda x: x.log_softmax(1)), EMPTY_COLS),
    "logsumexp over an empty dim is -inf": (*_both(lambda x: x.logsumexp(1)), EMPTY_COLS),
    "logsumexp over an empty dim, keepdim": (*_both(lambda x: x.logsumexp(1, keepdim=True)), EMPTY_COLS),
    "logsumexp of an empty tensor over a full dim": (*_both(lambda x: x.logsumexp(0)), EMPTY_COLS),
    "empty cumsum": (*_both(lambda x: x.cumsum(0)), EMPTY_ROWS),
    "empty norm() is 0": (*_both(lambda x: x.norm()), EMPTY_ROWS),
    "empty relu": (*_both(lambda x: x.relu()), EMPTY_ROWS),
    "empty sqrt and log": (*_both(lambda x: x.sqrt() + x.log()), EMPTY_ROWS),
    # -- losses of an empty batch --------------------------------------------------------------------------------
    "cross-entropy of an empty batch is nan": (
        lambda x: F.cross_entropy(x, _target(0, x)), lambda x: TF.cross_entropy(x, _target(0, x)), EMPTY_ROWS),
    "cross-entropy of an empty batch, sum is 0": (
        lambda x: F.cross_entropy(x, _target(0, x), reduction="sum"),
        lambda x: TF.cross_entropy(x, _target(0, x), reduction="sum"), EMPTY_ROWS),
    "cross-entropy of an empty batch, none is empty": (
        lambda x: F.cross_entropy(x, _target(0, x), reduction="none"),
        lambda x: TF.cross_entropy(x, _target(0, x), reduction="none"), EMPTY_ROWS),
    "cross-entropy with label smoothing of an empty batch": (
        lambda x: F.cross_entropy(x, _target(0, x), label_smoothing=0.1),
        lambda x: TF.cross_entropy(x, _target(0, x), label_smoothing=0.1), EMPTY_ROWS),
    "nll of an empty batch is nan": (
        lambda x: F.nll_loss(x, _target(0, x)), lambda x: TF.nll_loss(x, _target(0, x)), EMPTY_ROWS),
    "mse of nothing is nan": (
        lambda x: F.mse_loss(x, _zeros_like(x)), lambda x: TF.mse_loss(x, _zeros_like(x)), EMPTY_ROWS),
    "l1 of nothing is nan": (
        lambda x: F.l1_loss(x, _zeros_like(x)), lambda x: TF.l1_loss(x, _zeros_like(x)), EMPTY_ROWS),
    "huber of nothing is nan": (
        lambda x: F.huber_loss(x, _zeros_like(x)), lambda x: TF.huber_loss(x, _zeros_like(x)), EMPTY_ROWS),
    "bce of nothing is nan": (
        lambda x: F.binary_cross_entropy(x, _zeros_like(x)), lambda x: TF.binary_cross_entropy(x, _zeros_like(x)),
        EMPTY_ROWS),
    "bce with logits of nothing is nan": (
        lambda x: F.binary_cross_entropy_with_logits(x, _zeros_like(x)),
        lambda x: TF.binary_cross_entropy_with_logits(x, _zeros_like(x)), EMPTY_ROWS),
    # -- layers' ops with an empty batch, or nothing to attend to (compiled kernels and NumPy forms) ----------------
    "layer_norm of an empty batch": (lambda x: F.layer_norm(x, (3,)), lambda x: TF.layer_norm(x, (3,)), EMPTY_ROWS),
    "group_norm of an empty batch": (
        lambda x: F.group_norm(x, 1), lambda x: TF.group_norm(x, 1), np.zeros((0, 2, 2))),
    "conv2d of an empty batch": (
        lambda x: F.conv2d(x, _ones((2, 1, 2, 2), x)), lambda x: TF.conv2d(x, _ones((2, 1, 2, 2), x)),
        np.zeros((0, 1, 3, 3))),
    "conv1d of an empty batch": (
        lambda x: F.conv1d(x, _ones((2, 1, 2), x)), lambda x: TF.conv1d(x, _ones((2, 1, 2), x)), np.zeros((0, 1, 3))),
    "max_pool2d of an empty batch": (
        lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), np.zeros((0, 1, 4, 4))),
    "attention with no keys (out = 0)": (
        lambda x: F.scaled_dot_product_attention(x, x[:, :0], x[:, :0]),
        lambda x: TF.scaled_dot_product_attention(x, x[:, :0], x[:, :0]), np.ones((1, 2, 2))),
    "attention with no queries": (
        lambda x: F.scaled_dot_product_attention(x[:, :0], x, x),
        lambda x: TF.scaled_dot_product_attention(x[:, :0], x, x), np.ones((1, 2, 2))),
    "attention of an empty batch": (
        lambda x: F.scaled_dot_product_attention(x, x, x), lambda x: TF.scaled_dot_product_attention(x, x, x),
        np.ones((0, 2, 2))),
    "embedding of no indices": (
        lambda x: F.embedding(tg.tensor(np.zeros((2, 0), dtype=np.int64)), x),
        lambda x: TF.embedding(torch.zeros((2, 0), dtype=torch.long), x), np.ones((3, 2))),
}

PARAMS = [pytest.param(name, dtype, id=f"{name}-{dtype}") for name in CASES for dtype in DTYPES]


@pytest.mark.parametrize("name, dtype", PARAMS)
def test_matches_pytorch(name: str, dtype: str) -> None:
    fn_tg, fn_torch, x = CASES[name]
    compare(fn_tg, fn_torch, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, fn, x", [
    ("0-d std() is nan", lambda x: x.std(), SCALAR),
    ("empty var(0) is nans", lambda x: x.var(0), EMPTY_ROWS),
    ("empty std(0) is nans", lambda x: x.std(0), EMPTY_ROWS),
])
def test_too_few_elements_gives_pytorchs_values(name: str, fn, x, dtype: str) -> None:
    """Degrees of freedom <= 0: PyTorch warns (a UserWarning of its own) and returns nan; values compared only."""
    compare(fn, fn, x, dtype, check_warnings=False)


# -- errors where PyTorch raises -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, fn, x", [
    ("max() of an empty tensor", lambda x: x.max(), EMPTY_ROWS),
    ("min() of an empty tensor", lambda x: x.min(), EMPTY_ROWS),
    ("amax() of an empty tensor", lambda x: x.amax(), EMPTY_ROWS),
    ("amax over an empty dim", lambda x: x.amax(0), EMPTY_ROWS),
    ("amin over dims including an empty one", lambda x: x.amin((0, 1)), EMPTY_ROWS),
])
def test_errors_match_pytorch(name: str, fn, x) -> None:
    with pytest.raises(Exception) as theirs:
        fn(torch.tensor(x))
    with pytest.raises(type(theirs.value)) as ours:
        fn(tg.tensor(x))
    op = str(theirs.value).split("(")[0]
    assert op in str(ours.value), f"{name}: {ours.value!r} does not name {op}"


# -- cases whose fix belongs in Tensor methods (tensor.py, another engineer's file) -------------------------------

AT_THE_EDGES = {
    "0-d mean(0)": (*_both(lambda x: x.mean(0)), SCALAR),
    "0-d max(dim=0) values": (*_both(lambda x: x.max(dim=0)[0]), SCALAR),
    "0-d min(dim=-1) values": (*_both(lambda x: x.min(dim=-1)[0]), SCALAR),
    "empty max(dim) over a non-empty dim": (*_both(lambda x: x.max(dim=1)[0]), EMPTY_ROWS),
}


@pytest.mark.parametrize("name", list(AT_THE_EDGES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_methods_at_the_edges(name: str, dtype: str) -> None:
    fn_tg, fn_torch, x = AT_THE_EDGES[name]
    compare(fn_tg, fn_torch, x, dtype)


def test_max_over_an_empty_dim_is_an_index_error() -> None:
    with pytest.raises(IndexError, match="max"):
        tg.tensor(EMPTY_ROWS).max(dim=0)
