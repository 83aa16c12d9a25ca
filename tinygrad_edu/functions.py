"""Function forms of the tensor operations: ``tg.exp(t)`` is ``t.exp()``, and so on.

PyTorch offers both spellings; so does this library. Each function accepts a
Tensor (or anything `tg.tensor` accepts) and calls the method of the same name.
"""

from __future__ import annotations

import builtins
import functools
from typing import Any

import numpy as np

from . import ops
from .tensor import ShapeError, Tensor, _apply, _as_tensor

__all__ = [
    "exp", "log", "log1p", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "clip", "clamp",
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "softmax", "log_softmax", "logsumexp", "reshape", "flatten", "squeeze", "unsqueeze",
    "transpose", "permute", "pow",
    "tril", "triu", "split", "chunk", "gather", "scatter", "scatter_add", "masked_fill", "cumsum", "prod",
    "norm", "log10", "log2", "exp2", "multinomial", "einsum", "pad", "as_strided",
    "eq", "ne", "lt", "le", "gt", "ge", "equal", "square", "t", "numel", "bernoulli",
]


def _method(name: str):  # noqa: ANN202 - builds the functions below
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002 - PyTorch's name
        return getattr(_as_tensor(input), name)(*args, **kwargs)

    method = getattr(Tensor, name)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``tg.{name}(t, ...)`` is ``t.{name}(...)``: {method.__doc__}"
    return function


exp = _method("exp")
log = _method("log")
log1p = _method("log1p")
sqrt = _method("sqrt")
tanh = _method("tanh")
sigmoid = _method("sigmoid")
relu = _method("relu")
abs = _method("abs")  # noqa: A001 - PyTorch's name
sin = _method("sin")
cos = _method("cos")
clip = _method("clip")
clamp = _method("clip")
sum = _method("sum")  # noqa: A001
mean = _method("mean")
var = _method("var")
std = _method("std")
max = _method("max")  # noqa: A001
min = _method("min")  # noqa: A001
amax = _method("amax")
amin = _method("amin")
argmax = _method("argmax")
argmin = _method("argmin")
softmax = _method("softmax")
log_softmax = _method("log_softmax")
logsumexp = _method("logsumexp")
reshape = _method("reshape")
flatten = _method("flatten")
squeeze = _method("squeeze")
unsqueeze = _method("unsqueeze")
transpose = _method("transpose")
permute = _method("permute")
pow = _method("pow")  # noqa: A001
tril = _method("tril")
triu = _method("triu")


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> Any:
    """``tg.split(t, ...)`` is ``t.split(...)`` (PyTorch names the first argument ``tensor`` here)."""
    return _as_tensor(tensor).split(split_size_or_sections, dim)


chunk = _method("chunk")
gather = _method("gather")
scatter = _method("scatter")
scatter_add = _method("scatter_add")
masked_fill = _method("masked_fill")
cumsum = _method("cumsum")
prod = _method("prod")
norm = _method("norm")
log10 = _method("log10")
log2 = _method("log2")
exp2 = _method("exp2")
multinomial = _method("multinomial")
as_strided = _method("as_strided")
eq = _method("eq")
ne = _method("ne")
lt = _method("lt")
le = _method("le")
gt = _method("gt")
ge = _method("ge")
equal = _method("equal")
square = _method("square")
t = _method("t")
numel = _method("numel")
bernoulli = _method("bernoulli")


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation: multiply the operands over every combination of the subscripts, sum the
    subscripts that are not in the output.

    Args:
        equation: subscripts, one letter per dimension, operands separated by commas, an optional
            ``->`` and the output's subscripts (without it: the letters used once, in alphabetical
            order); ``...`` stands for the dimensions not named (broadcast).
        *operands: the tensors (or one list of them, as PyTorch also accepts).

    Example: attention's scores and weighted values,
    ``scores = tg.einsum("bhqd,bhkd->bhqk", q, k)``, ``out = tg.einsum("bhqk,bhkd->bhqd", p, v)``.
    The gradient of each operand is the einsum of the upstream gradient with the other operands;
    two-operand contractions run as one batched matmul.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the first argument is the equation (a string), got {type(equation).__name__}")
    tensors = [_as_tensor(t) for t in operands]
    if not tensors:
        raise ValueError("einsum: needs at least one operand")
    dtype = np.result_type(*[t.dtype for t in tensors])
    inputs, output = ops.einsum.parse_equation(equation, tuple(t.ndim for t in tensors))
    _check_einsum_sizes(equation, inputs, tuple(t.shape for t in tensors))
    arrays = [t._data.astype(dtype, copy=False) for t in tensors]
    return _apply(ops.Einsum, *tensors, arrays=arrays, inputs=inputs, output=output)


@functools.lru_cache(maxsize=1024)
def _check_einsum_sizes(equation: str, inputs: tuple[str, ...], shapes: tuple[tuple[int, ...], ...]) -> None:
    """Every letter has one size across the operands (or 1, broadcast); checked once per equation and shapes."""
    sizes: dict[str, int] = {}
    for k, (subscripts, shape) in enumerate(zip(inputs, shapes)):
        for letter, n in zip(subscripts, shape):
            if sizes.setdefault(letter, n) != n and n != 1 and sizes[letter] != 1:
                raise ShapeError(f"einsum: subscript {letter!r} has size {sizes[letter]} in one operand and {n} "
                                 f"in operand {k} of {equation!r} (shapes {list(shapes)})")
            sizes[letter] = builtins.max(sizes[letter], n)  # this module's max is tg.max


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad (or, with negative widths, crop) the last dimensions, as ``torch.nn.functional.pad``.

    Args:
        input: the tensor.
        pad: widths ``(left, right)`` for the last dimension, then ``(top, bottom)`` for the one
            before it, and so on: ``len(pad) / 2`` dimensions are padded, last first.
        mode: ``'constant'`` (fill with ``value``), ``'reflect'`` (mirror, not repeating the edge),
            ``'replicate'`` (repeat the edge) or ``'circular'`` (wrap around).
        value: the fill value of ``'constant'`` mode (0 when None).

    The gradient of each input element is the sum of the gradients at the places it was copied to.
    The non-constant modes pad the last 1, 2 or 3 dimensions of an input with one or two more
    dimensions than that (a batch and channels), as in PyTorch.
    """
    input = _as_tensor(input)  # noqa: A001
    widths = [int(w) for w in pad]
    if len(widths) % 2:
        raise ValueError(f"pad: the padding {tuple(pad)} must have an even length ((left, right) per dimension)")
    padded = len(widths) // 2
    if padded > input.ndim:
        raise ValueError(f"pad: the padding {tuple(pad)} pads {padded} dimensions, but the input of shape "
                         f"{input.shape} has only {input.ndim}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    per_axis = [(0, 0)] * (input.ndim - padded) + [
        (widths[2 * i], widths[2 * i + 1]) for i in reversed(range(padded))]
    shape = input.shape
    for n, (before, after) in zip(shape, per_axis):
        if n + builtins.min(before, 0) + builtins.min(after, 0) < 0:  # negative widths crop, first
            raise ValueError(f"pad: the padding {tuple(pad)} crops more than there is of an input of shape {shape}")
    if mode == "constant":
        fill = 0 if value is None else value
        return _apply(ops.Pad, input, widths=tuple(per_axis), mode=mode, value=fill)
    if value not in (None, 0):
        raise ValueError(f"pad: value= is only used by mode='constant', got value={value} with mode={mode!r}")
    if padded == 0 or padded > 3 or input.ndim not in (padded + 1, padded + 2):
        raise ShapeError(f"pad: mode {mode!r} with {padded} padded dimension(s) needs a {padded + 1}-d or "
                         f"{padded + 2}-d input, got shape {shape}")
    if all(n + before + after < 1 for n, (before, after) in zip(shape[-padded:], per_axis[-padded:])):
        raise ValueError(f"pad: mode {mode!r} with the padding {tuple(pad)} leaves no element of an input of "
                         f"shape {shape}")
    for n, (before, after) in zip(shape[-padded:], per_axis[-padded:]):
        if mode == "circular" and (before < 0 or after < 0):
            raise ValueError(f"pad: mode 'circular' takes non-negative widths here, got {tuple(pad)}")
        limit = n - 1 if mode == "reflect" else n
        if mode != "replicate" and (before > limit or after > limit):
            raise ValueError(f"pad: mode {mode!r} needs widths at most {limit} for a dimension of size {n}, "
                             f"got {tuple(pad)} for shape {shape}")
        if mode == "replicate" and n == 0 and (before or after):
            raise ValueError(f"pad: mode 'replicate' cannot pad an empty dimension (shape {shape})")
    return _apply(ops.Pad, input, widths=tuple(per_axis), mode=mode, value=0)
