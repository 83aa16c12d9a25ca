"""Reductions: sums, maxima and selections along axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Node
from ._quiet import quiet

# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


def _expand_back(grad_out: np.ndarray, shape: tuple, axis: Any, keepdim: bool) -> np.ndarray:
    """Reshape a reduced gradient so it broadcasts against the unreduced input."""
    if axis is None:
        return grad_out.reshape((1,) * len(shape))
    if not keepdim:
        grad_out = np.expand_dims(grad_out, axis)
    return grad_out


class Sum(Node):
    """out = sum of x over ``axis``;  d/dx_i = 1 for every summed element."""

    def forward(self, x: np.ndarray, axis: Any, keepdim: bool) -> np.ndarray:
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        return np.asarray(x.sum(axis=axis, keepdims=keepdim))

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.empty(self.shape, dtype=grad_out.dtype)
        grad[...] = _expand_back(grad_out, self.shape, self.axis, self.keepdim)
        return (grad,)


class Mean(Node):
    """out = (sum of x over ``axis``) / n (n elements summed);  d/dx_i = 1/n for every summed element.

    Divided, not multiplied by 1/n: PyTorch divides in both directions, and in float32 the two can
    differ in the last bit (92/100 is 0.92000001 one way and 0.91999996 the other).
    """

    def forward(self, x: np.ndarray, axis: Any, keepdim: bool, count: int) -> np.ndarray:
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        self.count = x.dtype.type(count) if x.dtype.kind == "f" else count
        with quiet():  # the mean of nothing is nan, as in PyTorch
            return np.asarray(x.sum(axis=axis, keepdims=keepdim) / self.count)

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.empty(self.shape, dtype=grad_out.dtype)
        with quiet():
            grad[...] = _expand_back(grad_out / self.count, self.shape, self.axis, self.keepdim)
        return (grad,)


def _check_extremum_of_empty(name: str, shape: tuple, axis: Any) -> None:
    """PyTorch's errors for a maximum of nothing (a maximum over a non-empty dim of an empty tensor is fine)."""
    if axis is None:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0 "
                           f"(input of shape {shape}). Specify the reduction dim with the 'dim' argument.")
    for dim in axis if isinstance(axis, tuple) else (axis,):
        if shape and shape[dim] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size (input of shape {shape})")


class Amax(Node):
    """out = max of x over ``axis``;  gradient shared evenly among the tied maxima.

    A NaN is the maximum (the result is NaN). Where it goes then follows PyTorch, which differs by name:
    ``max()``/``min()`` of all elements share the gradient among the NaN positions (``route_nan``, the default
    when ``axis`` is None), while ``amax``/``amin`` find no element equal to NaN and give NaN gradients to the
    whole reduced slice (``route_nan=False``).
    """

    saves = ((0, None),)
    saves_output = True

    def forward(self, x: np.ndarray, axis: Any, keepdim: bool, lowest: bool = False,
                route_nan: bool | None = None) -> np.ndarray:
        reduce = np.min if lowest else np.max
        if x.size == 0:
            _check_extremum_of_empty("amin" if lowest else "amax", x.shape, axis)
        self.x, self.axis, self.keepdim = x, axis, keepdim
        self.route_nan = axis is None if route_nan is None else route_nan
        self.out = np.asarray(reduce(x, axis=axis, keepdims=True))
        return self.out if keepdim else np.asarray(reduce(x, axis=axis, keepdims=False))

    def backward(self, grad_out: np.ndarray) -> tuple:
        winners = self.x == self.out
        if self.route_nan and self.axis is None and np.isnan(self.out).all():
            winners = np.isnan(self.x)  # PyTorch's evenly_distribute_backward: the gradient goes to the NaNs
        count = winners.sum(axis=self.axis, keepdims=True).astype(grad_out.dtype)
        grad = _expand_back(grad_out, self.x.shape, self.axis, self.keepdim)
        with quiet():  # a NaN maximum that no element equals: 0/0, NaN gradients, as in PyTorch's amax
            return (grad * winners / count,)


class Std(Node):
    """out = sqrt(sum((x - mean)**2) / (N - correction)) over ``axis``;  d/dx_i = (x_i - mean) / ((N - c) out).

    A primitive, not ``var().sqrt()``, for the edge PyTorch defines: where out = 0 (a constant row) the
    gradient is 0, while the composite gives (1 / (2 * 0)) * 0 = nan. N - correction <= 0 gives inf or nan
    values and nan gradients, as in PyTorch (without its warning). ``count`` is N, the elements reduced.
    """

    def forward(self, x: np.ndarray, axis: Any, keepdim: bool, correction: float, count: int) -> np.ndarray:
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        with quiet():  # the mean of nothing, 0/0 and x/0 give nan and inf silently, as in PyTorch
            self.deviation = x - x.mean(axis=axis, keepdims=True)
            self.denominator = x.dtype.type(max(count - correction, 0))
            self.out = np.sqrt((self.deviation * self.deviation).sum(axis=axis, keepdims=True) / self.denominator)
        return self.out if keepdim else np.asarray(np.squeeze(self.out, axis=axis))

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = _expand_back(grad_out, self.shape, self.axis, self.keepdim)
        with quiet():
            # PyTorch's std_backward: d(var) = g / (2 out), set to 0 where out = 0; then var's rule.
            grad_var = np.where(self.out == 0, 0, grad / (2 * self.out))
            return ((2 / self.denominator) * grad_var * self.deviation,)


class SelectAlong(Node):
    """out = x at ``indices`` along ``axis`` (the values of ``max(dim)``/``min(dim)``).

    d/dx = 1 at the selected index, 0 elsewhere: the gradient goes to the one
    returned index, as PyTorch's ``max(dim)`` does.
    """

    def forward(self, x: np.ndarray, indices: np.ndarray, axis: int, keepdim: bool) -> np.ndarray:
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        # ``indices`` comes from argmax/argmin along ``axis``, which drops that axis.
        self.indices = np.expand_dims(indices, axis)
        out = np.take_along_axis(x, self.indices, axis=axis)
        return out if keepdim else np.squeeze(out, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        values = grad_out if self.keepdim else np.expand_dims(grad_out, self.axis)
        np.put_along_axis(grad, self.indices, values, axis=self.axis)
        return (grad,)
