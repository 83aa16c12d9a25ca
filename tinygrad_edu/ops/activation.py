"""Smooth activation functions, each one node with its derivative (as PyTorch makes them primitives).

Each could be composed from exp, tanh and products, but at three to six nodes
for one well-known derivative; and ``erf``, which the exact GELU needs, is no
primitive at all.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Node
from ._quiet import quiet

__all__ = ["GELU", "SiLU", "ELU", "SoftplusThreshold", "erf"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise, to double precision.

    NumPy has no ``erf``: SciPy's is used when SciPy is installed, else
    Python's ``math.erf`` element by element (exact, slower).
    """
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return scipy_erf(x).astype(x.dtype, copy=False)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), with exp only ever seeing -|x| (no overflow)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class GELU(Node):
    """out = x * Phi(x);  d/dx = Phi(x) + x * phi(x)  (Phi, phi: the standard normal CDF and density).

    With ``approximate='tanh'``: out = x/2 * (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
    d/dx = (1 + tanh(u))/2 + x/2 * (1 - tanh(u)^2) * sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    """

    saves = ((0, None),)

    def forward(self, x: np.ndarray, approximate: str = "none") -> np.ndarray:
        self.x, self.approximate = x, approximate
        if approximate == "tanh":
            self.t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x * x * x))
            return 0.5 * x * (1 + self.t)
        self.cdf = 0.5 * (1 + erf(x * _INV_SQRT_2))
        return x * self.cdf

    def backward(self, grad_out: np.ndarray) -> tuple:
        x = self.x
        if self.approximate == "tanh":
            t = self.t
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * x * x)
            return (grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du_dx),)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return (grad_out * (self.cdf + x * pdf),)


class SiLU(Node):
    """out = x * sigmoid(x) (the swish);  d/dx = sigmoid(x) * (1 + x * (1 - sigmoid(x)))."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.sigmoid = _sigmoid(x)
        return x * self.sigmoid

    def backward(self, grad_out: np.ndarray) -> tuple:
        s = self.sigmoid
        return (grad_out * (s * (1 + self.x * (1 - s))),)


class ELU(Node):
    """out = x if x > 0 else alpha * (exp(x) - 1);  d/dx = 1 if x > 0 else alpha * exp(x) (alpha at 0, as PyTorch).

    As PyTorch's ``elu_backward``, the test is ``x <= 0``, so a NaN input passes its gradient (slope 1).
    """

    saves = ((0, None),)

    def forward(self, x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        self.x, self.alpha = x, x.dtype.type(alpha)
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        x = self.x
        slope = np.where(x <= 0, self.alpha * np.exp(np.minimum(x, 0)), 1).astype(grad_out.dtype, copy=False)
        return (grad_out * slope,)


class SoftplusThreshold(Node):
    """out = log(1 + exp(beta x)) / beta, or x where beta x > threshold;  d/dx = sigmoid(beta x) (1 there).

    PyTorch's ``softplus(x, beta, threshold)``: above the threshold the
    function is linear to within rounding, and is taken to be exactly so.
    Computed as logaddexp(0, beta x), which never overflows.
    """

    saves = ((0, None),)

    def forward(self, x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
        self.beta, self.threshold = beta, threshold
        self.scaled = x * x.dtype.type(beta)
        with quiet():  # logaddexp warns on nan; PyTorch passes it through silently
            soft = np.logaddexp(0, self.scaled) / x.dtype.type(beta)
        return np.where(self.scaled > threshold, x, soft).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        slope = np.where(self.scaled > self.threshold, 1, _sigmoid(self.scaled)).astype(grad_out.dtype, copy=False)
        return (grad_out * slope,)
