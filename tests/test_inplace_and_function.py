"""PyTorch's `.data`, in-place rules, version counters and custom Functions, each checked against PyTorch.

Every scenario is run twice, once here and once in PyTorch, and the outcomes
must agree: the same values, the same gradients, or both refusing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinygrad_edu as tg

torch = pytest.importorskip("torch")


# ---------------------------------------------------------------------------
# .data: the idioms of every tutorial
# ---------------------------------------------------------------------------


def _mlp_params(lib: Any, arrays: list[np.ndarray]) -> list[Any]:
    return [lib.tensor(a.copy(), requires_grad=True, dtype=lib.float64) for a in arrays]


def _mlp_loss(params: list[Any], x: Any, y: Any) -> Any:
    w1, b1, w2, b2 = params
    hidden = (x @ w1.T + b1).tanh()
    out = hidden @ w2.T + b2
    return ((out - y) ** 2).mean()


def test_manual_sgd_through_data_matches_torch_for_20_steps():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((8, 3)), rng.standard_normal(8), rng.standard_normal((1, 8)), rng.standard_normal(1)]
    x_np, y_np = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    ours = _mlp_params(tg, arrays)
    theirs = _mlp_params(torch, arrays)
    x, y = tg.tensor(x_np, dtype=tg.float64), tg.tensor(y_np, dtype=tg.float64)
    xt, yt = torch.tensor(x_np), torch.tensor(y_np)
    held = [p.numpy() for p in ours]
    lr = 0.1
    losses, losses_t = [], []
    for _ in range(20):
        loss = _mlp_loss(ours, x, y)
        loss_t = _mlp_loss(theirs, xt, yt)
        for p in ours:
            p.grad = None
        for p in theirs:
            p.grad = None
        loss.backward()
        loss_t.backward()
        for p, q in zip(ours, theirs):
            p.data -= lr * p.grad      # the classic update: no graph, same storage
            q.data -= lr * q.grad
        losses.append(loss.item())
        losses_t.append(loss_t.item())
    np.testing.assert_allclose(losses, losses_t, rtol=1e-12)
    for p, q, array in zip(ours, theirs, held):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14)
        assert p.numpy() is array and p.requires_grad and p.is_leaf
    assert losses[-1] < losses[0]


def test_data_plus_equals_negative_step_and_assignment():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    w.data += -0.5 * tg.tensor([2.0, 2.0])
    np.testing.assert_array_equal(w.numpy(), [0.0, 1.0])
    other = tg.tensor([5.0, 6.0])
    w.data = other                      # replaces the values: w now shares other's storage, as in PyTorch
    wt = torch.tensor([1.0, 2.0], requires_grad=True)
    ot = torch.tensor([5.0, 6.0])
    wt.data = ot
    np.testing.assert_array_equal(w.numpy(), wt.detach().numpy())
    other.numpy()[0] = 9.0
    ot[0] = 9.0
    assert w.numpy()[0] == wt.detach().numpy()[0] == 9.0
    assert w.requires_grad and wt.requires_grad


def test_data_is_a_tensor_sharing_storage_that_needs_no_grad():
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = w.data
    assert isinstance(d, tg.Tensor) and not d.requires_grad and d.is_leaf
    assert d.numpy() is w.numpy()
    assert w.detach().numpy() is w.numpy()


def test_normal_fill_zero_through_data_as_d2l_initialises():
    tg.manual_seed(0)
    w = tg.zeros(200, 100, requires_grad=True)
    b = tg.ones(100, requires_grad=True)
    array = w.numpy()
    returned = w.data.normal_(0, 0.01)
    b.data.fill_(0)
    assert isinstance(returned, tg.Tensor) and returned.numpy() is array
    assert w.numpy() is array and w.requires_grad and w.is_leaf and w.grad_fn is None
    # 20,000 draws of N(0, 0.01^2): mean within 5 standard errors of 0, std within 2 %.
    assert abs(w.numpy().mean()) < 5 * 0.01 / np.sqrt(w.numel())
    assert abs(w.numpy().std() / 0.01 - 1) < 0.02
    np.testing.assert_array_equal(b.numpy(), np.zeros(100, dtype=np.float32))
    w.data.zero_()
    assert not w.numpy().any()
    w.data.uniform_(-0.5, 0.5)
    assert w.numpy().min() >= -0.5 and w.numpy().max() < 0.5 and w.numpy().std() > 0.25
    # The same calls in PyTorch leave the same kind of tensor behind.
    wt = torch.zeros(3, requires_grad=True)
    wt.data.normal_(0, 0.01)
    assert wt.requires_grad and wt.is_leaf and wt.grad_fn is None


def test_normal_is_reproducible_under_manual_seed():
    tg.manual_seed(3)
    a = tg.empty_like(tg.zeros(5)) if hasattr(tg, "empty_like") else tg.zeros(5)
    a.normal_()
    tg.manual_seed(3)
    b = tg.zeros(5).normal_()
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------------------
# In-place rules and the version counter: the same outcome as PyTorch
# ---------------------------------------------------------------------------

def _outcome(lib: Any, scenario: Callable[[Any], Any]) -> tuple[str, Any]:
    """Run ``scenario(lib)``: ('raised', None) or ('ok', the gradient / values it returns)."""
    try:
        result = scenario(lib)
    except RuntimeError:
        return "raised", None
    if isinstance(result, tuple):
        return "ok", tuple(None if r is None else np.asarray(_numpy(r), dtype=np.float64) for r in result)
    return "ok", np.asarray(_numpy(result), dtype=np.float64)


def _numpy(t: Any) -> Any:
    return t.detach().numpy() if hasattr(t, "detach") else t


def _leaf(lib: Any, values: Any = (0.5, -1.0, 2.0)) -> Any:
    return lib.tensor(list(values), requires_grad=True)


def _leaf_add_outside_no_grad(lib):
    w = _leaf(lib)
    w.add_(1.0)
    return w


def _leaf_iadd_outside_no_grad(lib):
    w = _leaf(lib)
    w += 1.0
    return w


def _leaf_fill_outside_no_grad(lib):
    w = _leaf(lib)
    w.fill_(0.0)
    return w


def _leaf_update_inside_no_grad(lib):
    w = _leaf(lib)
    with lib.no_grad():
        w.mul_(2.0)
        w.sub_(lib.tensor([1.0, 1.0, 1.0]), alpha=0.5)
        w /= 2.0
        w.clamp_(min=-0.2)
    (w * w).sum().backward()
    return w, w.grad


def _nonleaf_add_then_backward(lib):
    w = _leaf(lib)
    y = w * 2.0
    y.add_(1.0)
    (y * y).sum().backward()
    return y, w.grad


def _exp_output_modified(lib):
    w = _leaf(lib)
    y = w.exp()
    y.add_(1.0)
    y.sum().backward()
    return w.grad


def _relu_output_modified(lib):
    w = _leaf(lib)
    y = w.relu()
    y.mul_(2.0)
    y.sum().backward()
    return w.grad


def _saved_input_modified(lib):
    w = _leaf(lib)
    x = lib.tensor([1.0, 2.0, 3.0])
    y = w * x           # x is saved for w's gradient
    x.mul_(2.0)
    y.sum().backward()
    return w.grad


def _unsaved_input_modified(lib):
    w = _leaf(lib)
    x = lib.tensor([1.0, 2.0, 3.0])
    y = w + x           # addition saves nothing
    x.mul_(2.0)
    y.sum().backward()
    return w.grad


def _leaf_modified_after_scalar_product(lib):
    w = _leaf(lib)
    y = w * 2.0         # only the constant would be needed, and it needs no gradient
    with lib.no_grad():
        w.add_(1.0)
    y.sum().backward()
    return w.grad


def _leaf_modified_after_square(lib):
    w = _leaf(lib)
    y = w * w
    with lib.no_grad():
        w.add_(1.0)
    y.sum().backward()
    return w.grad


def _detach_shares_the_counter(lib):
    w = _leaf(lib)
    y = w.sigmoid()
    y.detach().zero_()
    y.sum().backward()
    return w.grad


def _data_does_not_share_the_counter(lib):
    w = _leaf(lib)
    y = w.sigmoid()
    y.data.zero_()      # not tracked: the gradient uses the zeroed output, in both libraries
    y.sum().backward()
    return w.grad


def _plain_tensor_accumulates_a_graph(lib):
    w = _leaf(lib)
    acc = lib.zeros(3)
    acc += w * 3.0      # acc joins the graph
    acc += w
    acc.sum().backward()
    return acc, w.grad


def _inplace_product_of_graph_tensors(lib):
    w = _leaf(lib)
    y = w * 1.0
    y.mul_(w)           # needs y's old value for w's gradient
    y.sum().backward()
    return y, w.grad


def _zero_nonleaf_then_backward(lib):
    w = _leaf(lib)
    y = w * 2.0
    y.zero_()
    (y + w).sum().backward()
    return y, w.grad


def _copy_into_plain_tensor(lib):
    w = _leaf(lib)
    y = lib.zeros(2, 3)
    y.copy_(w)          # broadcast over rows: w's gradient is summed over them
    (y * 3.0).sum().backward()
    return y, w.grad


def _int_tensor_plus_float(lib):
    t = lib.tensor([1, 2, 3])
    t += 0.5
    return t


def _data_add_outside_no_grad(lib):
    w = _leaf(lib)
    w.data.add_(1.0)
    (w * w).sum().backward()
    return w, w.grad


def _version_counts_changes(lib):
    w = _leaf(lib)
    with lib.no_grad():
        w.add_(1.0)
        w.mul_(2.0)
        w += 1.0
    return np.array([float(w._version)])


SCENARIOS = [
    _leaf_add_outside_no_grad, _leaf_iadd_outside_no_grad, _leaf_fill_outside_no_grad, _leaf_update_inside_no_grad,
    _nonleaf_add_then_backward, _exp_output_modified, _relu_output_modified, _saved_input_modified,
    _unsaved_input_modified, _leaf_modified_after_scalar_product, _leaf_modified_after_square,
    _detach_shares_the_counter, _data_does_not_share_the_counter, _plain_tensor_accumulates_a_graph,
    _inplace_product_of_graph_tensors, _zero_nonleaf_then_backward, _copy_into_plain_tensor, _int_tensor_plus_float,
    _data_add_outside_no_grad, _version_counts_changes,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__.strip("_") for s in SCENARIOS])
def test_inplace_rules_match_torch(scenario: Callable[[Any], Any]):
    torch.set_default_dtype(torch.float32)
    ours, theirs = _outcome(tg, scenario), _outcome(torch, scenario)
    assert ours[0] == theirs[0], f"tinygrad_edu {ours[0]}, PyTorch {theirs[0]}"
    if ours[0] == "ok":
        got, want = ours[1], theirs[1]
        if isinstance(want, tuple):
            assert len(got) == len(want)
            for g, t in zip(got, want):
                np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-7)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_the_version_error_names_the_node_and_the_versions():
    w = _leaf(tg)
    y = w.tanh()
    y.mul_(3.0)
    with pytest.raises(RuntimeError, match=r"Tanh needs its output.*version 1; expected version 0"):
        y.sum().backward()


def test_a_refused_inplace_change_leaves_the_tensor_untouched():
    w = _leaf(tg)
    before = w.numpy().copy()
    for change in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.normal_(), lambda: w.copy_(tg.ones(3))):
        with pytest.raises(RuntimeError, match="no_grad"):
            change()
    np.testing.assert_array_equal(w.numpy(), before)
    assert w._version == 0
    t = tg.tensor([1.0, 2.0])
    with pytest.raises(tg.ShapeError, match=r"\(2,\)"):
        t += tg.ones(3, 2)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_set_shares_the_source_storage():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    source = tg.tensor([[3.0, 4.0, 5.0]])
    with pytest.raises(RuntimeError, match="no_grad"):
        w.set_(source)
    with tg.no_grad():
        w.set_(source)
    assert w.numpy() is source.numpy() and w.shape == (1, 3) and w.requires_grad
    wt = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.no_grad():
        wt.set_(torch.tensor([[3.0, 4.0, 5.0]]))
    assert tuple(wt.shape) == w.shape


# ---------------------------------------------------------------------------
# Custom Functions: PyTorch's protocol
# ---------------------------------------------------------------------------


def _define_functions(lib: Any) -> dict[str, Any]:
    """The same custom Functions, written once against ``lib``'s autograd.Function."""

    class ScaledSoftplus(lib.autograd.Function):
        """y = log(1 + exp(a x)) / a;  dy/dx = sigmoid(a x)."""

        @staticmethod
        def forward(ctx, x, a):
            ctx.a = a
            ctx.save_for_backward(x)
            return (x * a).exp().log1p() / a

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return grad_out * (x * ctx.a).sigmoid(), None

    class MulAdd(lib.autograd.Function):
        """Two outputs: (x * y, x + y)."""

        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y, x + y

        @staticmethod
        def backward(ctx, grad_prod, grad_sum):
            x, y = ctx.saved_tensors
            grad_x = grad_prod * y + grad_sum if ctx.needs_input_grad[0] else None
            grad_y = grad_prod * x + grad_sum if ctx.needs_input_grad[1] else None
            return grad_x, grad_y

    class BroadcastScale(lib.autograd.Function):
        """out = x * s with s of shape (1, n): the gradient of s comes back summed by the user."""

        @staticmethod
        def forward(ctx, x, s):
            ctx.save_for_backward(x, s)
            return x * s

        @staticmethod
        def backward(ctx, grad_out):
            x, s = ctx.saved_tensors
            return grad_out * s, (grad_out * x).sum(0, keepdim=True)

    return {"softplus": ScaledSoftplus, "muladd": MulAdd, "scale": BroadcastScale}


def _run_functions(lib: Any, arrays: list[np.ndarray]) -> list[np.ndarray]:
    fns = _define_functions(lib)
    x, y, s = (lib.tensor(a.copy(), requires_grad=True, dtype=lib.float64) for a in arrays)
    out1 = fns["softplus"].apply(x, 2.0)
    prod, total = fns["muladd"].apply(x, y)
    out3 = fns["scale"].apply(x.reshape(2, 3), s)
    loss = (out1 * out1).sum() + (prod * total).sum() + out3.tanh().sum()
    loss.backward()
    return [loss.detach().numpy(), x.grad.numpy(), y.grad.numpy(), s.grad.numpy()]


def test_custom_functions_match_torch():
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(6), rng.standard_normal(6), rng.standard_normal((1, 3))]
    torch.set_default_dtype(torch.float64)
    try:
        theirs = _run_functions(torch, arrays)
    finally:
        torch.set_default_dtype(torch.float32)
    ours = _run_functions(tg, [a for a in arrays])
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_custom_functions_pass_gradcheck():
    fns = _define_functions(tg)
    rng = np.random.default_rng(2)
    x = tg.tensor(rng.standard_normal(5), requires_grad=True, dtype=tg.float64)
    y = tg.tensor(rng.standard_normal(5), requires_grad=True, dtype=tg.float64)
    assert tg.gradcheck(lambda t: fns["softplus"].apply(t, 1.5), x)
    assert tg.gradcheck(lambda a, b: fns["muladd"].apply(a, b)[0] * 2 + fns["muladd"].apply(a, b)[1], x, y)
    s = tg.tensor(rng.standard_normal((1, 5)), requires_grad=True, dtype=tg.float64)
    assert tg.gradcheck(lambda a, b: fns["scale"].apply(a.reshape(1, 5).expand(3, 5), b), x, s)


def test_custom_function_with_a_wrong_backward_fails_gradcheck():
    class WrongSquare(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return grad_out * x  # missing the factor 2

    x = tg.tensor([1.0, -2.0], requires_grad=True, dtype=tg.float64)
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(WrongSquare.apply, x)


def test_an_unused_output_gets_zeros_and_the_graph_is_one_node():
    fns = _define_functions(tg)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.tensor([3.0, 4.0], requires_grad=True)
    prod, total = fns["muladd"].apply(x, y)
    assert prod.grad_fn is total.grad_fn and prod.grad_fn.name == "MulAdd"
    prod.sum().backward()               # total got no gradient: backward sees zeros for it
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 2.0])


def test_function_misuse_is_a_clear_error():
    fns = _define_functions(tg)
    with pytest.raises(RuntimeError, match="apply"):
        fns["softplus"]()

    class TooFew(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out  # one gradient for two inputs

    x = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 1 gradient"):
        TooFew.apply(x, tg.tensor([2.0])).sum().backward()

    class WrongShape(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad_out):
            return tg.ones(5)

    pair = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(5,\).*shape \(2,\)"):
        WrongShape.apply(pair).sum().backward()
    # A gradient that the input broadcasts up to is summed down, as PyTorch does.
    WrongShape.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0])


def test_saved_tensor_modified_in_place_is_caught_in_a_custom_function():
    fns = _define_functions(tg)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = tg.tensor([3.0, 4.0])
    prod, _ = fns["muladd"].apply(x, y)
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        prod.sum().backward()


def test_function_without_grad_inputs_records_nothing():
    fns = _define_functions(tg)
    out = fns["softplus"].apply(tg.tensor([1.0, 2.0]), 2.0)
    assert not out.requires_grad and out.grad_fn is None
    with tg.no_grad():
        out = fns["softplus"].apply(tg.tensor([1.0], requires_grad=True), 2.0)
    assert not out.requires_grad


# ---------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------


def test_only_the_cpu_exists():
    x = tg.ones(2)
    assert x.to("cpu") is x and x.cpu() is x and x.to(tg.device("cpu")) is x
    assert x.to("cpu", tg.float64).dtype == np.float64 and x.to(tg.zeros(1, dtype=tg.float64)).dtype == np.float64
    assert not tg.cuda.is_available() and not tg.accelerator.is_available()
    for bad in ("cuda", "cuda:0", "mps"):
        with pytest.raises(RuntimeError, match=bad.split(":")[0]):
            x.to(bad)
    with pytest.raises(RuntimeError, match="CPU only"):
        tg.device("cuda")
    assert str(tg.device("cpu")) == "cpu" and tg.device("cpu") == "cpu"


def test_a_function_that_saves_its_output_leaves_no_reference_cycle():
    import gc
    import weakref

    class Exp(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, grad_out):
            (out,) = ctx.saved_tensors
            return grad_out * out

    gc.disable()
    try:
        x = tg.tensor([0.0, 1.0], requires_grad=True)
        y = Exp.apply(x)
        node = weakref.ref(y.grad_fn)
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.exp([0.0, 1.0]), rtol=1e-6)
        z = Exp.apply(x)
        z.add_(1.0)                      # the saved output changed: caught through the shared counter
        with pytest.raises(RuntimeError, match="modified in place"):
            z.sum().backward()
        del y, z
        assert node() is None            # freed by reference counting alone
    finally:
        gc.enable()


@pytest.mark.parametrize("dtype", [np.float64, np.dtype(np.float64), tg.float64])
def test_to_accepts_every_spelling_of_a_dtype(dtype: Any):
    x = tg.ones(2)
    assert x.to(dtype).dtype == np.float64 and x.to(dtype=dtype).dtype == np.float64
    assert x.double().dtype == np.float64 and x.to(np.float64).float().dtype == np.float32


def test_a_string_given_to_to_is_a_device_as_in_torch():
    with pytest.raises(RuntimeError):
        torch.ones(2).to("float64")
    with pytest.raises(RuntimeError, match="'float64' is not available"):
        tg.ones(2).to("float64")


def test_set_materialize_grads_false_hands_none_for_unused_outputs_as_torch():
    seen = {}

    def define(lib):
        class Pair(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, grad_a, grad_b):
                seen[lib.__name__] = grad_b
                return grad_a * 2 if grad_b is None else grad_a * 2 + grad_b * 3

        return Pair

    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a, _ = define(lib).apply(x)
        a.sum().backward()
        np.testing.assert_array_equal(np.asarray(x.grad.numpy()), [2.0, 2.0])
    assert seen["tinygrad_edu"] is None and seen["torch"] is None
