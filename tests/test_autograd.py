"""Backward semantics, grad mode, dtypes, errors, factories and gradcheck.

Each expectation is a known value worked out by hand, a NumPy computation, or
PyTorch's documented behaviour (checked against PyTorch itself where installed).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.autograd import Node
from tinygrad_edu.tensor import _apply

F64 = np.float64




# ---------------------------------------------------------------------------
# backward(): accumulation, several paths, seeds
# ---------------------------------------------------------------------------


def test_gradients_accumulate_across_backward_calls():
    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])
    (3.0 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, -1.0, 9.0])


def test_backward_twice_on_the_same_graph_accumulates():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_accumulation_matches_torch(torch: Any):
    a = np.array([[0.5, -1.0], [2.0, 0.25]])
    x = tg.tensor(a, dtype=F64, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    for lib_x in (x, tx):
        (lib_x.exp() * lib_x).sum().backward()
        (lib_x @ lib_x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_zeroing_grad_by_setting_none_starts_fresh():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 5.0).sum().backward()
    x.grad = None
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_value_used_twice_gets_both_contributions():
    x = tg.tensor(3.0, requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad.item() == 7.0

    a = tg.tensor([1.0, 2.0], requires_grad=True)
    (a + a + a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])


def test_diamond_graph():
    # h = 2x used by two branches: z = h*h + sin(h);  dz/dx = 2 * (2h + cos(h)).
    x = tg.tensor([0.3, -1.2], dtype=F64, requires_grad=True)
    h = x * 2.0
    z = (h * h + h.sin()).sum()
    z.backward()
    hv = 2 * x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (2 * hv + np.cos(hv)), rtol=1e-12)


def test_broadcast_input_gets_summed_gradient():
    b = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = tg.ones(4, 3)
    (w * b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [4.0, 4.0, 4.0])


def test_backward_with_explicit_gradient():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(gradient=tg.tensor([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, -6.0])
    x.grad = None
    y.backward(np.array([0.0, 1.0, 0.0]))  # an array works too
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 4.0, 0.0])


def test_backward_on_non_scalar_without_gradient_is_a_clear_runtime_error():
    y = tg.tensor([1.0, 2.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"scalar") as info:
        y.backward()
    assert "(2,)" in str(info.value)
    assert "gradient" in str(info.value)


def test_backward_on_one_element_tensor_of_any_shape():
    x = tg.tensor([[2.0]], requires_grad=True)
    (x * x).backward()
    assert x.grad.shape == (1, 1) and x.grad.item() == 4.0


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 1)), np.ones(()), [1.0]])
def test_backward_with_gradient_of_wrong_shape_raises(bad: Any):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError) as info:
        y.backward(bad)
    assert "(2,)" in str(info.value)
    assert x.grad is None


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="requires grad"):
        (tg.tensor([1.0]) * 2.0).sum().backward()


def test_backward_on_leaf_itself():
    x = tg.tensor(4.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_gradient_does_not_reach_tensors_without_requires_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    c = tg.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_long_chain_backpropagates_without_recursion_error():
    n = 100_000
    assert n > sys.getrecursionlimit()
    x = tg.tensor(2.0, dtype=F64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0000001
    y.backward()
    expected = 1.0000001**n
    assert x.grad.item() == pytest.approx(expected, rel=1e-9)
    assert y.item() == pytest.approx(2.0 * expected, rel=1e-9)


def test_long_chain_of_additions_and_views():
    x = tg.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = (y + 0.0).reshape(2)
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ---------------------------------------------------------------------------
# Gradients own their memory
# ---------------------------------------------------------------------------

ALIAS_CASES = {
    "add_sum": lambda a, b: (a + b).sum(),
    "add": lambda a, b: a + b,
    "reshape_add": lambda a, b: a.reshape(6) + b.reshape(6),
    "cat": lambda a, b: tg.cat([a, b]),
    "stack_sum": lambda a, b: tg.stack([a, b]).sum(),
    "sub_neg": lambda a, b: a - (-b),
    "broadcast": lambda a, b: a + b[0],
    "where": lambda a, b: tg.where(tg.tensor([[True, False, True]] * 2), a, b),
}


@pytest.mark.parametrize("name", sorted(ALIAS_CASES))
def test_grads_of_two_leaves_never_alias(name: str):
    a = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = tg.tensor(np.ones((2, 3)), requires_grad=True)
    out = ALIAS_CASES[name](a, b)
    out.backward(None if out.numel() == 1 else np.ones(out.shape, dtype=np.float32))
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    b_before = b.grad.numpy().copy()
    a.grad.data *= 10.0  # gradient clipping/scaling in place, as optimizers do
    np.testing.assert_array_equal(b.grad.numpy(), b_before)


def test_leaf_grad_does_not_alias_the_gradient_passed_in():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, 1.0], dtype=np.float32)
    a.reshape(2).backward(seed)
    assert not np.shares_memory(a.grad.numpy(), seed)
    seed[:] = 5.0
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])


def test_leaf_grad_does_not_alias_retained_grad():
    a = tg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    h = a.reshape(3)
    h.retain_grad()
    h.backward(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert not np.shares_memory(a.grad.numpy(), h.grad.numpy())
    h.grad.numpy()[:] = 0.0
    np.testing.assert_array_equal(a.grad.numpy(), [[1.0, 2.0, 3.0]])


def test_grad_is_a_writable_ndarray_even_for_zero_dim_leaves():
    for fn in (lambda x: -x, lambda x: x.exp(), lambda x: x * 2.0, lambda x: x.sum(), lambda x: x.relu()):
        x = tg.tensor(1.0, requires_grad=True)
        fn(x).backward()
        assert type(x.grad.numpy()) is np.ndarray
        assert x.grad.numpy().flags.writeable
        before = x.grad.numpy()
        x.grad.data *= 2.0
        assert x.grad.numpy() is before


def test_accumulation_is_in_place_on_the_same_array():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2.0).sum().backward()
    grad_array = x.grad.numpy()
    (x * 3.0).sum().backward()
    assert x.grad.numpy() is grad_array
    np.testing.assert_array_equal(grad_array, [5.0, 5.0])


# ---------------------------------------------------------------------------
# retain_grad and detach
# ---------------------------------------------------------------------------


def test_non_leaf_retain_grad():
    x = tg.tensor([1.0, -2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    g = h * h  # not retained
    g.sum().backward()
    assert not h.is_leaf
    np.testing.assert_array_equal(h.grad.numpy(), 2 * h.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 3 * 2 * h.numpy())
    assert g.grad is None


def test_retain_grad_matches_torch(torch: Any):
    a = np.array([0.3, 1.2, -0.7])
    x = tg.tensor(a, dtype=F64, requires_grad=True)
    h = x.tanh()
    h.retain_grad()
    (h * h.exp()).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    th = tx.tanh()
    th.retain_grad()
    (th * th.exp()).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_detach_shares_data_and_cuts_the_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.numpy())
    y = (x * d).sum()  # d is a constant: dy/dx = d
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])
    assert d.grad is None


def test_detach_of_a_non_leaf():
    x = tg.tensor([2.0], requires_grad=True)
    h = x * x
    (h.detach() * x).sum().backward()  # dh is treated as the constant 4
    np.testing.assert_array_equal(x.grad.numpy(), [4.0])


def test_is_leaf_and_grad_fn():
    x = tg.tensor([1.0], requires_grad=True)
    y = x * 2.0
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.grad_fn is not None and y.requires_grad


# ---------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------


def test_no_grad_context_records_nothing():
    w = tg.ones(3, requires_grad=True)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = w * 2.0
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_no_grad_as_decorator():
    w = tg.ones(2, requires_grad=True)

    @tg.no_grad()
    def predict(x: tg.Tensor) -> tg.Tensor:
        """Docstring survives."""
        assert not tg.is_grad_enabled()
        return x * w

    out = predict(tg.tensor([1.0, 2.0]))
    assert not out.requires_grad
    assert tg.is_grad_enabled()
    assert predict.__name__ == "predict" and predict.__doc__ == "Docstring survives."


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError("boom")
    assert tg.is_grad_enabled()


def test_nested_no_grad_and_enable_grad():
    w = tg.ones(2, requires_grad=True)
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            inner = w * 2.0
        with tg.no_grad():
            assert not tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
        outer = w * 2.0
    assert inner.requires_grad and not outer.requires_grad
    inner.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])


def test_enable_grad_as_decorator_inside_no_grad():
    w = tg.ones(2, requires_grad=True)

    @tg.enable_grad()
    def f() -> tg.Tensor:
        return w * 3.0

    with tg.no_grad():
        out = f()
        assert not tg.is_grad_enabled()
    assert out.requires_grad


def test_set_grad_enabled():
    w = tg.ones(2, requires_grad=True)
    with tg.set_grad_enabled(False):
        assert not (w * 2.0).requires_grad
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(True):
        assert (w * 2.0).requires_grad
    tg.set_grad_enabled(False)  # as a plain call it switches at once, as in PyTorch
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()


def test_grad_mode_matches_torch_semantics(torch: Any):
    for lib in (tg, torch):
        w = lib.ones(2, requires_grad=True)
        with lib.no_grad():
            a = w * 2
            with lib.enable_grad():
                b = w * 2
        assert (a.requires_grad, b.requires_grad) == (False, True), lib.__name__


# ---------------------------------------------------------------------------
# requires_grad only for floats
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: tg.tensor([1, 2, 3], requires_grad=True),
        lambda: tg.Tensor(np.arange(3), requires_grad=True),
        lambda: tg.tensor([True, False], requires_grad=True),
        lambda: tg.tensor([1.5, 2.5], dtype=np.int64, requires_grad=True),
        lambda: tg.tensor([1, 2]).requires_grad_(),
        lambda: tg.tensor([1, 2]).requires_grad_(True),
        lambda: setattr(tg.tensor([1, 2]), "requires_grad", True),
        lambda: tg.arange(5, requires_grad=True),
        lambda: tg.zeros(2, dtype=np.int64, requires_grad=True),
        lambda: tg.ones(2, dtype=tg.int32, requires_grad=True),
        lambda: tg.full((2,), 7, requires_grad=True),
        lambda: tg.zeros_like(tg.tensor([1, 2]), requires_grad=True),
        lambda: tg.ones_like(tg.tensor([1, 2]), requires_grad=True),
        lambda: tg.eye(2, dtype=np.int64, requires_grad=True),
        lambda: tg.Tensor.zeros(3, dtype=tg.long, requires_grad=True),
    ],
)
def test_requires_grad_on_non_float_tensor_is_type_error(make: Any):
    with pytest.raises(TypeError, match="float"):
        make()


def test_requires_grad_on_float_tensors_is_fine():
    t = tg.tensor([1, 2], dtype=np.float64).requires_grad_()
    assert t.requires_grad and t.dtype == np.float64
    assert tg.full((2,), 7.0, requires_grad=True).requires_grad
    assert tg.arange(0.0, 3.0, requires_grad=True).requires_grad


# ---------------------------------------------------------------------------
# dtype rules
# ---------------------------------------------------------------------------


def test_float_data_becomes_float32_by_default():
    assert tg.tensor([1.0, 2.0]).dtype == np.float32
    assert tg.tensor(2.5).dtype == np.float32
    assert tg.tensor(np.array([1.0, 2.0], dtype=np.float64)).dtype == np.float32
    assert tg.tensor([[1, 2], [3, 4.5]]).dtype == np.float32
    assert tg.zeros(2).dtype == np.float32 and tg.randn(2).dtype == np.float32
    assert tg.get_default_dtype() == np.float32


def test_set_default_dtype_changes_float_data_and_factories():
    tg.set_default_dtype(np.float64)
    try:
        assert tg.get_default_dtype() == np.float64
        assert tg.tensor([1.0]).dtype == np.float64
        for t in (tg.zeros(2), tg.ones(2), tg.randn(2), tg.rand(2), tg.eye(2), tg.full((2,), 1.0),
                  tg.arange(0.0, 1.0, 0.5)):
            assert t.dtype == np.float64
        assert (tg.tensor([1, 2]) + 2.5).dtype == np.float64
        assert tg.tensor([1, 2]).dtype == np.int64
    finally:
        tg.set_default_dtype(np.float32)
    assert tg.tensor([1.0]).dtype == np.float32


def test_set_default_dtype_rejects_non_float():
    with pytest.raises(TypeError):
        tg.set_default_dtype(np.int64)
    assert tg.get_default_dtype() == np.float32


def test_integer_data_stays_integer():
    t = tg.tensor([1, 2, 3])
    assert t.dtype == np.int64
    assert (t + 1).dtype == np.int64 and (2 * t).dtype == np.int64 and (t + t).dtype == np.int64


def test_int_tensor_with_python_float_becomes_default_float():
    out = tg.tensor([1, 2]) + 2.5
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), [3.5, 4.5])
    assert (2.5 * tg.tensor([1, 2])).dtype == np.float32
    assert (tg.tensor([1, 2]) / 2).dtype == np.float32


def test_float32_with_python_float_stays_float32():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for out in (x * 0.1, 0.1 * x, x + 1e10, x / 3.0, x**2.0, 2.0**x, x - 1):
        assert out.dtype == np.float32


def test_float32_with_float64_tensor_promotes_and_grads_keep_leaf_dtypes():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([0.5, 0.25], dtype=np.float64, requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.25])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0])


def test_dtype_promotion_matches_torch(torch: Any):
    cases = [
        (lambda lib: lib.tensor([1, 2]) + 2.5),
        (lambda lib: lib.tensor([1.0, 2.0]) * 2.5),
        (lambda lib: lib.tensor([1.0, 2.0]) * 3),
        (lambda lib: lib.tensor([1, 2]) * 3),
        (lambda lib: lib.tensor([1, 2]) / lib.tensor([2, 2])),
        (lambda lib: lib.tensor([1.0, 2.0]) + lib.tensor([1.0, 2.0], dtype=lib.float64)),
        (lambda lib: lib.tensor([1, 2]) + lib.tensor([1.0, 2.0])),
        (lambda lib: lib.tensor([True, False]) + 1),
        (lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64) + lib.tensor(1.0)),
    ]
    names = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64"}
    for make in cases:
        assert np.dtype(names[make(torch).dtype]) == make(tg).dtype


def test_factory_and_tensor_dtype_argument():
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == np.float64
    assert tg.tensor([1.7, 2.2], dtype=np.int64).tolist() == [1, 2]
    assert tg.tensor(tg.tensor([1.0]), dtype=np.float64).dtype == np.float64


# ---------------------------------------------------------------------------
# Shape errors
# ---------------------------------------------------------------------------

SHAPE_ERRORS = [
    ("matmul", lambda: tg.ones(3, 4) @ tg.ones(5, 6), ("matmul", "(3, 4)", "(5, 6)")),
    ("matmul_vector", lambda: tg.ones(3) @ tg.ones(4), ("matmul", "(3,)", "(4,)")),
    ("add", lambda: tg.ones(3) + tg.ones(4), ("add", "(3,)", "(4,)")),
    ("sub", lambda: tg.ones(3) - tg.ones(2, 4), ("sub", "(3,)", "(2, 4)")),
    ("mul", lambda: tg.ones(2, 3) * tg.ones(3, 2), ("mul", "(2, 3)", "(3, 2)")),
    ("div", lambda: tg.ones(5) / tg.ones(4), ("div", "(5,)", "(4,)")),
    ("pow", lambda: tg.ones(5) ** tg.ones(4), ("pow", "(5,)", "(4,)")),
    ("radd_array", lambda: np.ones(4) + tg.ones(3), ("add", "(4,)", "(3,)")),
    ("maximum", lambda: tg.maximum(tg.ones(3), tg.ones(4)), ("maximum", "(3,)", "(4,)")),
    ("minimum", lambda: tg.minimum(tg.ones(3), tg.ones(4)), ("minimum", "(3,)", "(4,)")),
    ("where", lambda: tg.where(tg.ones(3) > 0, tg.ones(3), tg.ones(4)), ("where", "(3,)", "(4,)")),
    ("reshape", lambda: tg.ones(3, 4).reshape(5, 2), ("reshape", "(3, 4)", "(5, 2)")),
    ("expand", lambda: tg.ones(3, 2).expand(3, 4), ("expand", "(3, 2)", "(3, 4)")),
    ("cat", lambda: tg.cat([tg.ones(2, 3), tg.ones(2, 4)]), ("cat", "(2, 3)", "(2, 4)")),
    ("stack", lambda: tg.stack([tg.ones(2), tg.ones(3)]), ("stack", "(2,)", "(3,)")),
    ("compare", lambda: tg.ones(2) < tg.ones(3), ("(2,)", "(3,)")),
]


@pytest.mark.parametrize("name, make, fragments", SHAPE_ERRORS, ids=[s[0] for s in SHAPE_ERRORS])
def test_shape_mismatch_names_operation_and_both_shapes(name: str, make: Any, fragments: tuple):
    with pytest.raises(tg.ShapeError) as info:
        make()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from {message!r}"
    assert isinstance(info.value, ValueError) and isinstance(info.value, RuntimeError)


def test_shape_error_is_catchable_as_value_error_and_runtime_error():
    with pytest.raises(ValueError):
        tg.ones(3, 4) @ tg.ones(5, 6)
    with pytest.raises(RuntimeError):
        tg.ones(3) + tg.ones(4)
    assert issubclass(tg.ShapeError, ValueError) and issubclass(tg.ShapeError, RuntimeError)


def test_shape_error_in_recorded_graph_leaves_no_gradient():
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(tg.ShapeError):
        x + tg.ones(4)
    assert x.grad is None


# ---------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------


def test_comparisons_return_bool_tensors_without_grad():
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    x = tg.tensor(a, requires_grad=True)
    y = tg.tensor([2.0, 2.0, 2.0], requires_grad=True)
    ops = {
        "<": (x < y, a < 2.0), "<=": (x <= y, a <= 2.0), ">": (x > y, a > 2.0), ">=": (x >= y, a >= 2.0),
        "==": (x == y, a == 2.0), "!=": (x != y, a != 2.0),
        "scalar": (x > 1.5, a > 1.5), "reflected": (2.5 < x, a > 2.5), "array": (x < a[::-1], a < a[::-1]),
    }
    for name, (out, expected) in ops.items():
        assert isinstance(out, tg.Tensor), name
        assert out.dtype == np.bool_, name
        assert not out.requires_grad and out.grad_fn is None, name
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=name)
    with pytest.raises(RuntimeError):
        (x > 0).backward(np.ones((2, 3), dtype=bool))


def test_comparison_results_combine_and_index():
    x = tg.tensor([-2.0, -0.5, 0.5, 2.0])
    inside = (x > -1) & (x < 1)
    np.testing.assert_array_equal(inside.numpy(), [False, True, True, False])
    np.testing.assert_array_equal((~inside).numpy(), [True, False, False, True])
    np.testing.assert_array_equal(x[inside].numpy(), [-0.5, 0.5])


# ---------------------------------------------------------------------------
# In-place updates
# ---------------------------------------------------------------------------


def test_inplace_sgd_step_inside_no_grad_keeps_array_and_requires_grad():
    w = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    array = w.numpy()
    (w * w).sum().backward()
    lr = 0.1
    with tg.no_grad():
        w -= lr * w.grad
    assert w.numpy() is array
    assert w.requires_grad and w.is_leaf
    np.testing.assert_allclose(w.numpy(), [0.8, -1.6, 2.4], rtol=1e-6)
    assert w.dtype == np.float32
    # The parameter still trains afterwards.
    w.grad = None
    (w * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_other_inplace_operators_inside_no_grad():
    w = tg.tensor([2.0, 4.0], requires_grad=True)
    array = w.numpy()
    with tg.no_grad():
        w += 1.0
        w *= tg.tensor([2.0, 0.5])
        w /= 2.0
    assert w.numpy() is array and w.requires_grad
    np.testing.assert_array_equal(w.numpy(), [3.0, 1.25])
    with tg.no_grad():
        w.fill_(7.0)
        w.copy_(np.array([1.0, 2.0]))
        w[0] = 5.0
    assert w.numpy() is array
    np.testing.assert_array_equal(w.numpy(), [5.0, 2.0])
    with tg.no_grad():
        w.zero_()
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0])


@pytest.mark.parametrize(
    "update",
    [
        lambda w: w.__isub__(0.1),
        lambda w: w.__iadd__(tg.ones(2)),
        lambda w: w.__imul__(2.0),
        lambda w: w.__itruediv__(2.0),
        lambda w: w.zero_(),
        lambda w: w.fill_(1.0),
        lambda w: w.copy_(np.zeros(2)),
        lambda w: w.__setitem__(0, 3.0),
    ],
)
def test_inplace_on_leaf_requiring_grad_outside_no_grad_raises(update: Any):
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        update(w)
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])


def test_inplace_on_plain_tensor_outside_no_grad_is_fine():
    t = tg.tensor([1.0, 2.0])
    array = t.numpy()
    t += 1.0
    t *= 3.0
    assert t.numpy() is array
    np.testing.assert_array_equal(t.numpy(), [6.0, 9.0])


def test_inplace_whose_result_does_not_fit_raises():
    t = tg.tensor([1.0, 2.0])
    with pytest.raises(tg.ShapeError):
        t += tg.ones(3, 2)


# ---------------------------------------------------------------------------
# Randomness and factories
# ---------------------------------------------------------------------------


def test_manual_seed_makes_randn_and_rand_reproducible():
    tg.manual_seed(123)
    a1, b1 = tg.randn(3, 4), tg.rand(5)
    tg.manual_seed(123)
    a2, b2 = tg.randn(3, 4), tg.rand(5)
    np.testing.assert_array_equal(a1.numpy(), a2.numpy())
    np.testing.assert_array_equal(b1.numpy(), b2.numpy())
    tg.manual_seed(124)
    assert not np.array_equal(tg.randn(3, 4).numpy(), a1.numpy())
    tg.manual_seed(123)
    c = tg.randn(3, 4)
    assert np.array_equal(c.numpy(), a1.numpy())
    assert not np.array_equal(tg.randn(3, 4).numpy(), a1.numpy())  # the stream moves on


def test_random_factories_have_plausible_distributions():
    tg.manual_seed(0)
    n = tg.randn(20_000, dtype=np.float64).numpy()
    u = tg.rand(20_000).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1.0) < 0.05
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.02


def test_zeros_ones_full_eye_arange_values():
    np.testing.assert_array_equal(tg.zeros(2, 3).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(tg.zeros((2, 3)).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(tg.ones(4).numpy(), np.ones(4))
    full = tg.full((2, 2), 7.5)
    assert full.dtype == np.float32
    np.testing.assert_array_equal(full.numpy(), np.full((2, 2), 7.5))
    assert tg.full((2,), 3).dtype == np.int64
    np.testing.assert_array_equal(tg.eye(3).numpy(), np.eye(3))
    np.testing.assert_array_equal(tg.eye(2, 3).numpy(), np.eye(2, 3))
    ar = tg.arange(5)
    assert ar.dtype == np.int64 and ar.tolist() == [0, 1, 2, 3, 4]
    assert tg.arange(2, 10, 3).tolist() == [2, 5, 8]
    fr = tg.arange(0, 1, 0.25)
    assert fr.dtype == np.float32
    np.testing.assert_array_equal(fr.numpy(), [0.0, 0.25, 0.5, 0.75])
    assert tg.zeros(0).shape == (0,)


def test_like_factories_follow_shape_and_dtype():
    t = tg.tensor(np.arange(6).reshape(2, 3))
    z = tg.zeros_like(t)
    assert z.shape == (2, 3) and z.dtype == np.int64 and not z.numpy().any()
    o = tg.ones_like(t, dtype=np.float64)
    assert o.dtype == np.float64 and (o.numpy() == 1).all()
    f = tg.ones_like(tg.ones(2, dtype=np.float64), requires_grad=True)
    assert f.requires_grad and f.dtype == np.float64


@pytest.mark.parametrize(
    "name, args",
    [
        ("zeros", (2, 3)), ("ones", (2, 3)), ("full", ((2, 3), 1.5)), ("randn", (2, 3)), ("rand", (2, 3)),
        ("eye", (3,)), ("arange", (0.0, 3.0)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_factories_take_dtype_and_requires_grad_also_as_static_methods(name: str, args: tuple, dtype: Any):
    for factory in (getattr(tg, name), getattr(tg.Tensor, name)):
        t = factory(*args, dtype=dtype, requires_grad=True)
        assert isinstance(t, tg.Tensor)
        assert t.dtype == dtype and t.requires_grad and t.is_leaf and t.grad is None
        (t * 2.0).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), np.full(t.shape, 2.0))
        assert t.grad.dtype == dtype
        plain = factory(*args, dtype=dtype)
        assert not plain.requires_grad


@pytest.mark.parametrize("name", ["zeros_like", "ones_like"])
def test_like_factories_as_static_methods(name: str):
    base = tg.ones(2, 2)
    t = getattr(tg.Tensor, name)(base, requires_grad=True)
    assert t.requires_grad and t.shape == (2, 2) and t.dtype == np.float32


def test_tensor_attributes_and_conversions():
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and isinstance(x.shape, tuple)
    assert x.ndim == 2 and x.numel() == 6
    assert isinstance(x.dtype, np.dtype)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy() is x.numpy()
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert x.T.shape == (3, 2) and x.T.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert tg.tensor([[7.0]]).item() == 7.0 and isinstance(tg.tensor(3).item(), int)
    assert x.grad is None and not x.requires_grad


def test_tensor_copies_its_input():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = tg.tensor(a)
    a[0] = 100.0
    assert t.tolist() == [1.0, 2.0]
    u = tg.Tensor(t)
    t.numpy()[1] = 50.0
    assert u.tolist() == [1.0, 2.0]


# ---------------------------------------------------------------------------
# gradcheck
# ---------------------------------------------------------------------------


class _Square(Node):
    """out = x**2; backward deliberately configurable to be wrong."""

    scale = 2.0
    bad_index: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x * x

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = self.scale * self.x * grad_out
        if self.bad_index is not None:
            grad = np.array(grad, copy=True)
            grad[self.bad_index] *= 3.0
        return (grad,)


class _MissingFactor(_Square):
    scale = 1.0  # d(x^2)/dx = 2x, not x


class _WrongAt12(_Square):
    bad_index = (1, 2)


class _ScaledProduct(Node):
    """out = a * b, with the gradient of b deliberately wrong (sign flipped)."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_out: np.ndarray) -> tuple:
        return grad_out * self.b, -grad_out * self.a


@pytest.mark.parametrize(
    "fn, shape",
    [
        (lambda x: (x * x).sum(), (3,)),  # scalar output
        (lambda x: x.exp() * 2.0, (4,)),  # vector output
        (lambda x: x @ x.T, (2, 3)),  # matrix output
        (lambda x: x.softmax(-1), (2, 3, 2)),
        (lambda x: x, (2,)),  # identity: the output is the input's memory
        (lambda x: x[1:].reshape(-1), (3, 2)),
        (lambda x: _apply(_Square, x), (2, 3)),
    ],
)
def test_gradcheck_passes_for_correct_functions(fn: Any, shape: tuple):
    tg.manual_seed(0)
    x = tg.randn(*shape, dtype=np.float64, requires_grad=True)
    assert tg.gradcheck(fn, x) is True


def test_gradcheck_with_several_inputs_and_constants():
    tg.manual_seed(1)
    a = tg.randn(3, 4, dtype=np.float64, requires_grad=True)
    b = tg.randn(4, 2, dtype=np.float64, requires_grad=True)
    c = tg.randn(2, dtype=np.float64)  # held fixed
    assert tg.gradcheck(lambda a, b, c: (a @ b + c).tanh(), a, b, c) is True


def test_gradcheck_accepts_float32_inputs_and_checks_in_float64():
    x = tg.tensor([0.5, 1.5, -0.7], requires_grad=True)
    assert x.dtype == np.float32
    assert tg.gradcheck(lambda t: (t.sin() * t).sum(), x) is True
    assert x.dtype == np.float32 and x.grad is None  # the caller's tensor is untouched


@pytest.mark.parametrize(
    "fn, shape",
    [
        (lambda x: _apply(_MissingFactor, x).sum(), (3,)),  # scalar output
        (lambda x: _apply(_MissingFactor, x), (4,)),  # vector output
        (lambda x: _apply(_MissingFactor, x) @ tg.ones(3, 2, dtype=np.float64), (2, 3)),  # matrix output
    ],
    ids=["scalar", "vector", "matrix"],
)
def test_gradcheck_raises_for_wrong_backward(fn: Any, shape: tuple):
    x = tg.tensor(np.linspace(0.5, 2.0, int(np.prod(shape))).reshape(shape), dtype=np.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(fn, x)
    assert isinstance(info.value, AssertionError)
    message = str(info.value)
    assert "input 0" in message
    assert "analytic" in message and "numeric" in message
    # The error (x instead of 2x) grows with x, so the worst entry is the largest x: the last element.
    last = ", ".join(str(i) for i in np.unravel_index(x.numel() - 1, shape))
    assert f"d input[{last}]" in message


def test_gradcheck_names_the_worst_entry():
    x = tg.tensor(np.arange(1.0, 13.0).reshape(3, 4), dtype=np.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda t: _apply(_WrongAt12, t), x)
    message = str(info.value)
    assert "input 0" in message
    assert "output[1, 2]" in message and "input[1, 2]" in message
    # analytic 3 * 2x = 6 * 7 = 42, numeric 2x = 14 at x[1, 2] = 7
    assert "42" in message and "14" in message


def test_gradcheck_names_the_wrong_input():
    a = tg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    b = tg.tensor([3.0, 4.0], dtype=np.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError, match="input 1"):
        tg.gradcheck(lambda a, b: _apply(_ScaledProduct, a, b), a, b)
    # With only a checked, the wrong gradient of b goes unnoticed.
    b_fixed = tg.tensor([3.0, 4.0], dtype=np.float64)
    assert tg.gradcheck(lambda a, b: _apply(_ScaledProduct, a, b), a, b_fixed) is True


def test_gradcheck_catches_wrong_broadcast_gradient():
    class _NoUnbroadcastScale(Node):
        """out = a * b, but the gradient of b is given only for the first row."""

        def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            self.a, self.b = a, b
            return a * b

        def backward(self, grad_out: np.ndarray) -> tuple:
            return grad_out * self.b, (grad_out * self.a)[:1]

    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=np.float64, requires_grad=True)
    b = tg.tensor([0.5, -1.0], dtype=np.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError, match="input 1"):
        tg.gradcheck(lambda a, b: _apply(_NoUnbroadcastScale, a, b), a, b)


def test_gradcheck_needs_an_input_requiring_grad():
    with pytest.raises(ValueError):
        tg.gradcheck(lambda t: t * 2.0, tg.tensor([1.0]))


def test_gradcheck_error_is_assertion_error():
    assert issubclass(tg.GradcheckError, AssertionError)


def test_no_grad_as_a_bare_decorator():
    @tg.no_grad
    def double(t):
        return t * 2

    w = tg.ones(3, requires_grad=True)
    out = double(w)
    assert not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.full(3, 2.0, dtype=np.float32))
    assert tg.is_grad_enabled()
    assert (w * 2).requires_grad
