"""Logarithms and powers in other bases, and vector norms."""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Node
from ._quiet import quiet


class LogBase(Node):
    """out = log_b(x) (b = 2 or 10);  d/dx = 1 / (x ln b)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray, base: float) -> np.ndarray:
        self.x, self.log_base = x, math.log(base)
        with quiet():  # log_b(0) = -inf, log_b(-1) = nan, silently as in PyTorch
            return np.log2(x) if base == 2.0 else np.log10(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        with quiet():
            return (grad_out / (self.x * self.x.dtype.type(self.log_base)),)


class Exp2(Node):
    """out = 2 ** x;  d/dx = 2**x ln 2 = out ln 2."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        with quiet():  # 2**2000 = inf silently, as in PyTorch
            self.out = np.exp2(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * (self.out * self.out.dtype.type(math.log(2.0))),)


class VectorNorm(Node):
    """out = (sum |x_i|**p) ** (1/p) over ``axis``;  d/dx_i = sign(x_i) |x_i|**(p-1) / out**(p-1).

    As PyTorch: 0 where out = 0; for p = inf the tied maxima share it evenly; p = 0 counts the
    non-zeros and has gradient 0.
    """

    saves = ((0, None),)
    saves_output = True

    def forward(self, x: np.ndarray, p: float, axis: tuple | None, keepdim: bool) -> np.ndarray:
        self.x, self.p, self.axis, self.keepdim = x, p, axis, keepdim
        magnitude = np.abs(x)
        if p == 2.0:
            out = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        elif p == 1.0:
            out = np.sum(magnitude, axis=axis, keepdims=True)
        elif p == math.inf:
            out = np.max(magnitude, axis=axis, keepdims=True, initial=0.0)
        elif p == -math.inf:
            out = np.min(magnitude, axis=axis, keepdims=True)
        elif p == 0.0:
            out = np.sum(x != 0, axis=axis, keepdims=True).astype(x.dtype)
        else:
            out = np.sum(magnitude**p, axis=axis, keepdims=True) ** (1.0 / p)
        self.out = np.asarray(out, dtype=x.dtype)
        if keepdim:
            return self.out
        return self.out.reshape(()) if axis is None else np.squeeze(self.out, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        x, p, norm = self.x, self.p, self.out
        grad = grad_out if self.keepdim else grad_out.reshape(norm.shape)
        if p == 0.0:
            return (np.zeros_like(x),)
        if p == 1.0:
            return (np.sign(x) * grad,)
        if math.isinf(p):
            winners = np.abs(x) == norm
            count = winners.sum(axis=self.axis, keepdims=True)
            return (np.sign(x) * winners * (grad / count),)
        with quiet():
            if p == 2.0:
                scale = grad / norm
                local = x * scale
            else:
                scale = grad / norm ** (p - 1)
                local = (x * np.abs(x) ** (p - 2) if p >= 2 else np.sign(x) * np.abs(x) ** (p - 1)) * scale
        # PyTorch's convention where the formula is 0/0 or 0 * inf: no gradient at a zero norm, nor at x_i = 0.
        return (np.where((norm == 0) | (x == 0), 0, local).astype(x.dtype, copy=False),)
