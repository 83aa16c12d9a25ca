"""Bad values are refused as PyTorch refuses them, never silently converted (issue 13).

Each case runs in PyTorch (the oracle) and in the library: the same exception class (or, where the
library's error is deliberately of two classes, one PyTorch's), with a message naming the bad value.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg


def _error_of(call):
    try:
        call()
    except Exception as err:  # noqa: BLE001 - the oracle's outcome, whatever it is
        return err
    return None


# name -> call(lib): a shape argument that is not an integer.
BAD_SIZES = {
    "reshape_float": lambda lib: lib.zeros(4).reshape(2.5, 2),
    "reshape_str": lambda lib: lib.zeros(4).reshape("2", 2),
    "reshape_bool": lambda lib: lib.zeros(4).reshape(True, 4),
    "reshape_tuple_float": lambda lib: lib.zeros(4).reshape((2.0, 2)),
    "reshape_float_tensor": lambda lib: lib.zeros(4).reshape(lib.tensor(2.0), 2),
    "reshape_1d_tensor": lambda lib: lib.zeros(6).reshape(lib.tensor([2, 3])),
    "view_float": lambda lib: lib.zeros(4).view(2.0, 2),
    "expand_float": lambda lib: lib.zeros(4).expand(2.0, 4),
    "repeat_float": lambda lib: lib.zeros(4).repeat(2.0),
    "permute_float": lambda lib: lib.zeros(2, 2).permute(1.0, 0),
    "zeros_float": lambda lib: lib.zeros(2.0, 2),
    "zeros_str": lambda lib: lib.zeros("2"),
    "zeros_size_kw": lambda lib: lib.zeros(size=(2.0,)),
    "ones_float": lambda lib: lib.ones(2, 2.5),
    "empty_float": lambda lib: lib.empty(2.0),
    "randn_float": lambda lib: lib.randn(2.0),
    "rand_float": lambda lib: lib.rand(2, 3.0),
    "full_float": lambda lib: lib.full((2.0,), 1.0),
    "new_zeros_float": lambda lib: lib.zeros(2).new_zeros(2.0),
    "new_ones_float": lambda lib: lib.zeros(2).new_ones(2.0),
    "new_full_float": lambda lib: lib.zeros(2).new_full((2.0,), 1.0),
    "normal_size_float": lambda lib: lib.normal(0.0, 1.0, size=(2.0,)),
    "randint_size_float": lambda lib: lib.randint(0, 5, (2.0,)),
    "eye_float": lambda lib: lib.eye(2.0),
    "eye_bool": lambda lib: lib.eye(True),
    "eye_m_float": lambda lib: lib.eye(2, 3.0),
    "linspace_steps_float": lambda lib: lib.linspace(0, 1, 2.0),
    "randperm_float": lambda lib: lib.randperm(3.0),
    "unsqueeze_float": lambda lib: lib.zeros(4).unsqueeze(0.0),
    "transpose_float": lambda lib: lib.zeros(2, 3).transpose(0.0, 1),
}


@pytest.mark.parametrize("case", list(BAD_SIZES))
def test_non_integer_sizes_raise_type_error_as_pytorch(torch, case):
    call = BAD_SIZES[case]
    expected = _error_of(lambda: call(torch))
    assert isinstance(expected, TypeError), (case, expected)
    with pytest.raises(TypeError) as info:
        call(tg)
    message = str(info.value)
    assert "int" in message  # says what was expected
    if case in ("reshape_float", "expand_float", "zeros_float", "ones_float", "eye_float", "randperm_float"):
        assert "2.0" in message or "2.5" in message or "3.0" in message  # names the value


def test_issue_examples_reshape_float_and_str():
    for bad in (2.5, "2"):
        with pytest.raises(TypeError, match=r"reshape\(\): argument 'shape' must be a tuple of ints"):
            tg.zeros(4).reshape(bad, 2)


# Accepted by PyTorch, so accepted here with the same result.
GOOD_SIZES = {
    "reshape_np_int": lambda lib: lib.zeros(4).reshape(np.int64(2), 2),
    "reshape_0d_int_tensor": lambda lib: lib.zeros(4).reshape(lib.tensor(2), 2),
    "reshape_only_0d_tensor": lambda lib: lib.zeros(3).reshape(lib.tensor(3)),
    "reshape_minus_one": lambda lib: lib.zeros(6).reshape(-1, 3),
    "expand_minus_one": lambda lib: lib.zeros(1, 3).expand(2, -1),
    "zeros_np_int": lambda lib: lib.zeros(np.int32(2), 3),
    "zeros_0d_tensor": lambda lib: lib.zeros(lib.tensor(2), 3),
    "eye_0d_tensor": lambda lib: lib.eye(lib.tensor(2)),
    "zeros_empty": lambda lib: lib.zeros(0, 3),
    "full_list": lambda lib: lib.full([2, 1], 7.0),
}


@pytest.mark.parametrize("case", list(GOOD_SIZES))
def test_integer_like_sizes_accepted_as_pytorch(torch, case):
    call = GOOD_SIZES[case]
    assert tuple(call(tg).shape) == tuple(call(torch).shape)


@pytest.mark.parametrize("call", [
    lambda lib: lib.zeros(-1),
    lambda lib: lib.zeros(2).new_zeros(-1, 2),
    lambda lib: lib.eye(-1),
    lambda lib: lib.linspace(0, 1, -1),
    lambda lib: lib.randperm(-1),
    lambda lib: lib.zeros(2).repeat(-1),
])
def test_negative_sizes_raise_as_pytorch(torch, call):
    """PyTorch raises RuntimeError; the library's ShapeError is a RuntimeError (and a ValueError)."""
    assert isinstance(_error_of(lambda: call(torch)), RuntimeError)
    with pytest.raises(RuntimeError, match="non-negative"):
        call(tg)


# ---------------------------------------------------------------------------
# backward(gradient=...)
# ---------------------------------------------------------------------------


def _backward_with(lib, gradient):
    x = lib.ones(2, requires_grad=True)
    (x * 2).backward(gradient)
    return x.grad


def test_complex_gradient_is_refused_not_truncated(torch):
    assert isinstance(_error_of(lambda: _backward_with(torch, torch.ones(2, dtype=torch.complex64))), RuntimeError)
    for gradient in (np.array([1 + 1j, 1 - 2j]), [1 + 1j, 1.0], np.ones(2, dtype=np.complex64)):
        with pytest.raises(RuntimeError, match="complex"):
            _backward_with(tg, gradient)


@pytest.mark.parametrize("dtype", ["float64", "int64", "bool"])
def test_real_gradient_of_another_dtype_is_converted_as_pytorch(torch, dtype):
    expected = _backward_with(torch, torch.tensor([1, 0], dtype=getattr(torch, dtype)))
    got = _backward_with(tg, tg.tensor([1, 0], dtype=getattr(tg, dtype)))
    assert got.dtype == tg.float32
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("shape", [(3,), (1,), ()])
def test_gradient_of_wrong_shape_raises_as_pytorch(torch, shape):
    assert isinstance(_error_of(lambda: _backward_with(torch, torch.ones(shape))), RuntimeError)
    with pytest.raises(RuntimeError, match="gradient has shape"):
        _backward_with(tg, tg.ones(shape))


@pytest.mark.parametrize("gradient", [["1", "2"], "1", [object(), object()]])
def test_non_numeric_gradient_is_refused(torch, gradient):
    """PyTorch takes only Tensors (TypeError for anything else); the library also takes arrays and lists of
    numbers (more lenient, documented) but refuses strings and objects instead of parsing them."""
    assert isinstance(_error_of(lambda: _backward_with(torch, gradient)), TypeError)
    with pytest.raises(TypeError, match="gradient"):
        _backward_with(tg, gradient)


# ---------------------------------------------------------------------------
# .grad assignment and what later changes it
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda lib: lib.ones(2, dtype=lib.int64),
    lambda lib: lib.ones(2, dtype=lib.float64),
    lambda lib: lib.ones(2, dtype=lib.float16),
])
def test_assigning_grad_of_another_dtype_raises_as_pytorch(torch, make):
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="assign a gradient with dtype"):
        x.grad = make(torch)
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="assign a gradient with dtype"):
        w.grad = make(tg)
    assert w.grad is None  # nothing changed


@pytest.mark.parametrize("shape", [(3,), (1,), (2, 1)])
def test_assigning_grad_of_another_size_raises_as_pytorch(torch, shape):
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="assign a gradient of size"):
        x.grad = torch.ones(shape)
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="assign a gradient of size"):
        w.grad = tg.ones(shape)


def test_assigning_grad_that_is_not_a_tensor_raises_as_pytorch(torch):
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="expected to be a Tensor or None"):
        x.grad = np.ones(2)
    w = tg.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="expected to be a Tensor or None"):
        w.grad = np.ones(2)


def test_integer_grad_smuggled_through_grad_data_fails_clearly_at_backward(torch):
    """PyTorch lets ``x.grad.data = <int tensor>`` through and the next backward raises a RuntimeError;
    the library does the same, with a message saying what .grad holds instead of a raw NumPy casting error."""
    for lib in (torch, tg):
        x = lib.ones(2, requires_grad=True)
        x.grad = lib.ones(2)
        x.grad.data = lib.ones(2, dtype=lib.int64)
        with pytest.raises(RuntimeError):
            (x * 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"\.grad, which holds dtype int64"):
        (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1])  # left as it was


def test_grad_of_another_shape_through_grad_data_fails_clearly(torch):
    for lib in (torch, tg):
        x = lib.ones(2, requires_grad=True)
        x.grad = lib.ones(2)
        x.grad.data = lib.ones(3)
        with pytest.raises(RuntimeError):
            (x * 2).sum().backward()


def test_set_to_another_dtype_raises_as_pytorch(torch):
    for lib in (torch, tg):
        g = lib.ones(2)
        with pytest.raises(RuntimeError):
            g.set_(lib.ones(2, dtype=lib.int64))
        assert g.dtype == lib.float32


def test_integer_tensor_may_hold_an_integer_grad_as_pytorch(torch):
    for lib in (torch, tg):
        y = lib.ones(2, dtype=lib.int64)
        y.grad = lib.ones(2, dtype=lib.int64)
        assert y.grad.dtype == lib.int64


# ---------------------------------------------------------------------------
# Yes/no keywords: bool("no") is True, so anything but a bool is refused (PyTorch's TypeError)
# ---------------------------------------------------------------------------


def _set_requires_grad(lib, value):
    t = lib.tensor([1.0])
    t.requires_grad = value


BAD_FLAGS = {
    "tensor_requires_grad": lambda lib, v: lib.tensor([1.0], requires_grad=v),
    "requires_grad_": lambda lib, v: lib.tensor([1.0]).requires_grad_(v),
    "zeros_requires_grad": lambda lib, v: lib.zeros(2, requires_grad=v),
    "randn_requires_grad": lambda lib, v: lib.randn(2, requires_grad=v),
    "new_zeros_requires_grad": lambda lib, v: lib.zeros(2).new_zeros(2, requires_grad=v),
    "sum_keepdim": lambda lib, v: lib.ones(2).sum(0, keepdim=v),
    "mean_keepdim": lambda lib, v: lib.ones(2).mean(0, keepdim=v),
    "backward_retain_graph": lambda lib, v: lib.ones(2, requires_grad=True).sum().backward(retain_graph=v),
}


@pytest.mark.parametrize("value", ["no", 1])
@pytest.mark.parametrize("case", list(BAD_FLAGS))
def test_non_bool_flags_raise_type_error_as_pytorch(torch, case, value):
    call = BAD_FLAGS[case]
    if case == "backward_retain_graph" and value == 1:
        pytest.skip("PyTorch takes retain_graph=1 (converted to a C++ bool); so does the library")
    assert isinstance(_error_of(lambda: call(torch, value)), TypeError), case
    with pytest.raises(TypeError, match="must be bool"):
        call(tg, value)


def test_requires_grad_attribute_takes_a_bool_only_as_pytorch(torch):
    for value in ("no", 1, None):
        with pytest.raises(RuntimeError, match="requires_grad must be a bool"):
            _set_requires_grad(torch, value)
        with pytest.raises(RuntimeError, match="requires_grad must be a bool"):
            _set_requires_grad(tg, value)


@pytest.mark.parametrize("bad", [None, "garbage", "int64", np.int64, np.longdouble])
def test_set_default_dtype_refuses_what_is_not_a_float_dtype(torch, bad):
    """``np.dtype(None)`` is float64, so None used to switch the default silently; PyTorch raises TypeError."""
    if bad is None:
        with pytest.raises(TypeError):
            torch.set_default_dtype(None)
    with pytest.raises(TypeError, match="floating dtype"):
        tg.set_default_dtype(bad)
    assert tg.get_default_dtype() == tg.float32


def test_set_default_dtype_takes_float16_as_pytorch(torch):
    torch.set_default_dtype(torch.float16)
    try:
        tg.set_default_dtype(tg.float16)
        assert tg.tensor([1.0]).dtype == tg.float16
        assert torch.tensor([1.0]).dtype == torch.float16
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("returned", ["complex", "string"])
def test_custom_function_returning_a_complex_or_non_numeric_gradient_raises_as_pytorch(torch, returned):
    """A Function's backward returning a complex gradient for a real input: PyTorch raises a RuntimeError;
    so does the library, instead of silently dropping the imaginary part."""
    def run(lib, value):
        class Double(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, grad):
                return value

        x = lib.ones(2, requires_grad=True)
        Double.apply(x).sum().backward()

    torch_value = torch.ones(2, dtype=torch.complex64) if returned == "complex" else "x"
    assert isinstance(_error_of(lambda: run(torch, torch_value)), RuntimeError)
    with pytest.raises(RuntimeError, match="returned a gradient of dtype"):
        run(tg, np.array([1 + 2j, 1j]) if returned == "complex" else ["a", "b"])


BAD_DATA = {
    "tensor_complex_list_with_dtype": lambda lib: lib.tensor([1 + 1j, 2.0], dtype=lib.float32),
    "tensor_strings_with_dtype": lambda lib: lib.tensor(["1", "2"], dtype=lib.float32),
    "full_complex": lambda lib: lib.full((2,), 1 + 1j, dtype=lib.float32),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_complex_and_string_data_are_refused_not_converted(torch, case):
    """``tensor(["1", "2"], dtype=float32)`` used to parse the strings, and complex values lost their imaginary
    part (a ComplexWarning at most); PyTorch raises for each."""
    call = BAD_DATA[case]
    assert _error_of(lambda: call(torch)) is not None
    with pytest.raises(TypeError):
        call(tg)


def test_numbers_with_a_dtype_convert_as_pytorch(torch):
    for data, name in (([1, 2.5], "int64"), ([[1.0, 2.0]], "float64"), ([2**70], "float64"), ([True, 0], "float32")):
        expected = torch.tensor(data, dtype=getattr(torch, name))
        got = tg.tensor(data, dtype=getattr(tg, name))
        assert got.dtype == np.dtype(name)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("value", ["a", 1j, None, [1.0]])
def test_fill_refuses_what_is_not_a_real_number_as_pytorch(torch, value):
    assert _error_of(lambda: torch.zeros(2).fill_(value)) is not None
    t = tg.zeros(2)
    with pytest.raises(TypeError, match="fill_ takes a real number"):
        t.fill_(value)
    assert t._version == 0
