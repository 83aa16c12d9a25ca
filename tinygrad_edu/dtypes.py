"""Dtypes and PyTorch's promotion rules, in one place.

Float data becomes the default float dtype (float32 unless `set_default_dtype`
changed it), integer data stays integer. A binary operation promotes by kind,
bool < integer < float; a Python number only matters if it is of a higher kind
than the tensor (a float with an integer tensor gives the default float
dtype), and a 0-d tensor gives way to a dimensioned one of the same kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "set_default_dtype", "get_default_dtype", "default_dtype", "kind_rank", "scalar_rank", "SCALAR_TYPES",
    "result_dtype", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_", "double",
    "long", "half", "short",
]

DTypeLike = Any

# dtypes under PyTorch's names, so `dtype=tg.float64` reads as `dtype=torch.float64`.
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
bool_ = np.dtype(np.bool_)
double = float64  # PyTorch's aliases (``tg.float`` is set in the package, where it shadows nothing)
long = int64
half = float16
short = int16

_default_dtype = float32


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the float dtype that float data and the factories produce (float32 at start).

    One setting for the whole process, shared by all threads, as in PyTorch.
    ``dtype`` is float16, float32 or float64; more lenient than PyTorch, NumPy
    spellings work too (``np.float64``, ``"float64"``). ``None`` and anything
    else (an integer dtype, float128) is a ``TypeError``, and the setting is
    left as it was.

    Example:
        >>> import numpy as np, tinygrad_edu as tg
        >>> tg.set_default_dtype(np.float64); tg.tensor([1.0]).dtype
        dtype('float64')
        >>> tg.set_default_dtype(np.float32)
    """
    global _default_dtype
    try:
        dt = None if dtype is None else np.dtype(dtype)  # np.dtype(None) would be float64
    except TypeError:
        dt = None
    if dt is None or dt not in (float16, float32, float64):  # (a dtype compares equal to None: float64)
        raise TypeError(f"set_default_dtype expects a floating dtype (float16, float32 or float64), got {dtype!r}; "
                        f"only floating-point types are supported as the default type (as in PyTorch)")
    _default_dtype = dt


def get_default_dtype() -> np.dtype:
    """The current default float dtype."""
    return _default_dtype




def default_dtype() -> np.dtype:
    """The current default float dtype (the same as `get_default_dtype`)."""
    return _default_dtype


SCALAR_TYPES = (bool, int, float, np.bool_, np.integer, np.floating)


def kind_rank(dtype: np.dtype) -> int:
    """0 for bool, 1 for integers, 2 for floats: the order in which kinds promote."""
    return {"b": 0, "i": 1, "u": 1, "f": 2}.get(dtype.kind, 3)


def scalar_rank(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    return 2


def result_dtype(a: Any, b: Any) -> np.dtype:
    """The dtype of a binary operation on ``a`` and ``b``, by PyTorch's promotion rules.

    Each operand is a tensor, given as its ``(dtype, ndim)``, or a Python
    number. Kinds promote bool < int < float; a Python number only matters if
    it is of a higher kind than the tensor (a float with an int tensor gives
    the default float dtype); a 0-d tensor gives way to a dimensioned one of
    the same kind.
    """
    a_t, b_t = isinstance(a, tuple), isinstance(b, tuple)
    if a_t and b_t:
        (da, nda), (db, ndb) = a, b
        if da == db:
            return da
        ra, rb = kind_rank(da), kind_rank(db)
        if ra != rb:
            return da if ra > rb else db
        if nda == 0 and ndb > 0:
            return db
        if ndb == 0 and nda > 0:
            return da
        return np.promote_types(da, db)
    (dt, _), number = (a, b) if a_t else (b, a)
    rank = scalar_rank(number)
    if rank > kind_rank(dt):
        return _default_dtype if rank == 2 else int64
    return dt
