"""Factories: tensors made from a size, a range or random draws, as ``tg.zeros`` and ``Tensor.zeros``.

Each takes ``dtype=`` and ``requires_grad=`` as PyTorch's do; float factories
give the default float dtype (`tinygrad_edu.dtypes`). Random draws come from
the library's global generator (`tinygrad_edu.rng`, PyTorch's CPU streams), so
``tg.manual_seed`` governs them, or from a ``generator=`` of their own. The
functions are attached to `Tensor` as static methods at the end of this
module, as PyTorch offers both spellings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import dtypes
from . import rng as _rng
from .device import check_device
from .tensor import ShapeError, Tensor, _flag, _int_sizes, _size_args, _sizes_argument, _wrap

__all__ = [
    "from_numpy", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "randn", "rand",
    "randint", "randperm", "normal", "arange", "linspace", "eye", "empty", "empty_like",
]

Scalar = int | float | bool
DTypeLike = Any


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares memory with ``array`` and keeps its dtype (as ``torch.from_numpy``)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an np.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: unsupported dtype {array.dtype}")
    return _wrap(array)


def _factory(array: np.ndarray, requires_grad: bool) -> Tensor:
    requires_grad = _flag("factory", "requires_grad", requires_grad)
    if requires_grad and array.dtype.kind != "f":
        raise TypeError(f"only floating-point tensors can require grad, got dtype {array.dtype}")
    return _wrap(array, bool(requires_grad))


def _factory_size(who: str, size: tuple, keyword: dict) -> tuple:
    """The size a factory was given: ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))``, checked."""
    return _size_args(_sizes_argument(who, size, keyword, "size"), who)


def _count(who: str, name: str, value: Any) -> int:
    """A count argument (``n``, ``steps``): an integer (or 0-d integer tensor) >= 0, as PyTorch requires.

    Raises:
        TypeError: for a float, bool, string...; ShapeError (a ValueError and a RuntimeError) for a negative.
    """
    (n,) = _int_sizes(who, name, (value,))
    if n < 0:
        raise ShapeError(f"{who}: {name} must be a non-negative integer, got {value!r}")
    return n


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    return dtypes.default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*size: Any, dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False,
          **keyword: Any) -> Tensor:
    """A tensor of zeros of the given size (``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``)."""
    check_device(device)
    return _factory(np.zeros(_factory_size("zeros", size, keyword), dtype=_float_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False,
          **keyword: Any) -> Tensor:
    """A tensor of the given size; PyTorch leaves its values uninitialised, here they are zeros."""
    check_device(device)
    return _factory(np.zeros(_factory_size("empty", size, keyword), dtype=_float_dtype(dtype)), requires_grad)


def empty_like(t: Tensor, dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor with the shape (and, unless given, the dtype) of ``t``; zeros here (uninitialised in PyTorch)."""
    check_device(device)
    return _factory(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad)


def ones(*size: Any, dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False,
         **keyword: Any) -> Tensor:
    """A tensor of ones of the given size."""
    check_device(device)
    return _factory(np.ones(_factory_size("ones", size, keyword), dtype=_float_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: Scalar, dtype: DTypeLike = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (its dtype inferred from the value)."""
    check_device(device)
    if isinstance(fill_value, (complex, np.complexfloating, str, bytes)):
        raise TypeError(f"full: fill_value must be a real number (or bool), got {fill_value!r}; PyTorch refuses it "
                        f"too (a complex value is never cut to its real part)")
    if dtype is None:
        rank = dtypes.scalar_rank(fill_value)
        dtype = (np.bool_, np.int64, dtypes.default_dtype())[rank]
    size = _size_args(size if isinstance(size, (tuple, list)) else (size,), "full")
    return _factory(np.full(size, fill_value, dtype=dtype), requires_grad)


def zeros_like(t: Tensor, dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape (and, unless given, the dtype) of ``t``."""
    check_device(device)
    return _factory(np.zeros(t.shape, dtype=dtype or t.dtype), requires_grad)


def ones_like(t: Tensor, dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape (and, unless given, the dtype) of ``t``."""
    check_device(device)
    return _factory(np.ones(t.shape, dtype=dtype or t.dtype), requires_grad)


def full_like(t: Tensor, fill_value: Scalar, dtype: DTypeLike = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape (and, unless given, the dtype) of ``t``."""
    check_device(device)
    return _factory(np.full(t.shape, fill_value, dtype=dtype or t.dtype), requires_grad)


def _random_floats(who: str, size: tuple, dtype: DTypeLike, draw: Any) -> np.ndarray:
    """``draw(shape, dtype)`` in float32 or float64; other float dtypes draw float32 and round."""
    dt = _float_dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{who} makes floating-point tensors, got dtype {dt}")
    if dt in (np.float32, np.float64):
        return draw(size, dt)
    return draw(size, np.dtype(np.float32)).astype(dt)


def randn(*size: Any, generator: _rng.Generator | None = None, dtype: DTypeLike = None, device: Any = None,
          requires_grad: bool = False, **keyword: Any) -> Tensor:
    """Samples of the standard normal distribution N(0, 1): ``torch.randn``'s numbers for the same seed.

    Bit for bit in float32 and float64 at every size; below 16 elements PyTorch's scalar Box–Muller,
    from 16 on its vectorised one (see `tinygrad_edu.rng` for the recipes and the one exception).
    """
    check_device(device)
    gen = _rng.check_generator("randn", generator)
    draw = lambda shape, dt: _rng.normal(gen, shape, dt, 0.0, 1.0)  # noqa: E731
    return _factory(_random_floats("randn", _factory_size("randn", size, keyword), dtype, draw), requires_grad)


def rand(*size: Any, generator: _rng.Generator | None = None, dtype: DTypeLike = None, device: Any = None,
         requires_grad: bool = False, **keyword: Any) -> Tensor:
    """Samples of the uniform distribution on [0, 1): ``torch.rand``'s numbers for the same seed (float32, float64)."""
    check_device(device)
    gen = _rng.check_generator("rand", generator)
    draw = lambda shape, dt: _rng.uniform(gen, shape, dt, 0.0, 1.0)  # noqa: E731
    return _factory(_random_floats("rand", _factory_size("rand", size, keyword), dtype, draw), requires_grad)


def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: _rng.Generator | None = None,
           dtype: DTypeLike = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std**2), as ``torch.normal``.

    ``normal(mean, std, size)`` with numbers fills a tensor of ``size`` as ``Tensor.normal_(mean, std)``
    does (PyTorch's numbers for the same seed). With a tensor ``mean`` or ``std`` (broadcast together,
    ``size`` not given), it draws N(0, 1) of their shape and scales it: ``z * std + mean``, as PyTorch does.
    """
    check_device(device)
    gen = _rng.check_generator("normal", generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise ValueError("normal: size is only for a number mean and std; a tensor's shape sets the size")
        mean_array = mean._data if isinstance(mean, Tensor) else np.asarray(mean)
        std_array = std._data if isinstance(std, Tensor) else np.asarray(std)
        if (std_array < 0).any():
            raise ValueError("normal: std must be non-negative")
        float_dtype = next((t.dtype for t in (mean, std) if isinstance(t, Tensor) and t.dtype.kind == "f"),
                           _float_dtype(dtype))
        shape = np.broadcast_shapes(mean_array.shape, std_array.shape)
        z = _random_floats("normal", shape, float_dtype, lambda s, dt: _rng.normal(gen, s, dt, 0.0, 1.0))
        return _factory((z * std_array.astype(z.dtype) + mean_array.astype(z.dtype)).astype(z.dtype), requires_grad)
    if size is None:
        raise ValueError("normal: give size when mean and std are numbers, e.g. tg.normal(0.0, 1.0, (3,))")
    if not std >= 0:
        raise ValueError(f"normal: std must be non-negative, got {std}")
    shape = _size_args(size if isinstance(size, (tuple, list)) else (size,), "normal")
    draw = lambda s, dt: _rng.normal(gen, s, dt, float(mean), float(std))  # noqa: E731
    return _factory(_random_floats("normal", shape, dtype, draw), requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), *, generator: _rng.Generator | None = None,
            dtype: DTypeLike = np.int64, device: Any = None) -> Tensor:
    """Random integers in [low, high) (``randint(high, size)`` starts at 0): ``torch.randint``'s numbers.

    Each element is ``random() % (high - low) + low`` over one 32-bit draw, or one 64-bit draw when
    the range is 2**28 or more, as PyTorch's CPU kernel does.
    """
    check_device(device)
    if isinstance(high, (tuple, list)):  # randint(high, size), PyTorch's two-argument form
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"randint: {name} must be an integer, got {value!r}")
    if high <= low:
        raise ValueError(f"randint needs low < high, got low={low}, high={high}")
    gen = _rng.check_generator("randint", generator)
    size = _size_args(size if isinstance(size, (tuple, list)) else (size,), "randint")
    return _wrap(_rng.random_integers(gen, size, int(low), int(high)).astype(dtype))


def randperm(n: int, *, generator: _rng.Generator | None = None, dtype: DTypeLike = np.int64,
             device: Any = None) -> Tensor:
    """A random ordering of 0, ..., n-1: ``torch.randperm``'s for the same seed (PyTorch's Fisher–Yates)."""
    check_device(device)
    n = _count("randperm", "n", n)
    gen = _rng.check_generator("randperm", generator)
    return _wrap(_rng.randperm(gen, n).astype(dtype))


def arange(start: float, end: float | None = None, step: float = 1, dtype: DTypeLike = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` up to (not including) ``end`` in steps of ``step``.

    Integer arguments give an int64 tensor, any float argument the default float dtype.
    """
    check_device(device)
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else dtypes.default_dtype()
    return _factory(np.arange(start, end, step, dtype=dtype), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: DTypeLike = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    check_device(device)
    steps = _count("linspace", "steps", steps)
    return _factory(np.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (``n`` by ``m``, square if ``m`` is omitted)."""
    check_device(device)
    n = _count("eye", "n", n)
    m = n if m is None else _count("eye", "m", m)
    return _factory(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


FACTORIES = (zeros, ones, full, zeros_like, ones_like, full_like, randn, rand, randint, randperm, arange,
             linspace, eye, from_numpy, empty, empty_like)
for _factory_fn in FACTORIES:
    setattr(Tensor, _factory_fn.__name__, staticmethod(_factory_fn))
del _factory_fn
