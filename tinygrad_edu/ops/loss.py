"""Pointwise losses that PyTorch makes primitives, each one node (the reduction is left to ``sum``/``mean``).

Each is a short formula whose composite would either build several nodes or,
at the edges (probabilities of exactly 0 or 1, a target of 0 under a
logarithm), give ``inf * 0 = nan`` where PyTorch gives a number.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Node
from ._quiet import quiet

__all__ = ["BinaryCrossEntropy", "Huber", "KLDiv"]

#: PyTorch clamps log(p) at -100 in the forward and p(1 - p) at 1e-12 in the backward.
_LOG_FLOOR = -100.0
_BCE_EPSILON = float(np.float32(1e-12))  # PyTorch's EPSILON is a float: 9.99999996e-13 in float64 too


class BinaryCrossEntropy(Node):
    """out = -(y log p + (1 - y) log(1 - p)), each log clamped at -100;  d/dp = (p - y) / max(p (1 - p), 1e-12).

    ``p`` holds probabilities in [0, 1], ``y`` targets in [0, 1]; d/dy = log(1 - p) - log(p).
    The clamps are PyTorch's: a probability of exactly 0 or 1 gives a loss of
    100 and a large but finite gradient rather than inf and nan.
    """

    saves = ((0, None), (1, 0))

    def forward(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        self.p, self.y = p, y
        with quiet():
            self.log_p = np.maximum(np.log(p), _LOG_FLOOR)
            self.log_1mp = np.maximum(np.log1p(-p), _LOG_FLOOR)
        return -(y * self.log_p + (1 - y) * self.log_1mp)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_p, need_y = self.needs_input_grad
        p = self.p
        grad_p = grad_out * (p - self.y) / np.maximum((1 - p) * p, _BCE_EPSILON) if need_p else None
        grad_y = grad_out * (self.log_1mp - self.log_p) if need_y else None
        return grad_p, grad_y


class Huber(Node):
    """out = scale * (d^2/2 if |d| < delta else delta (|d| - delta/2));  d/d input = scale * clip(d, -delta, delta).

    The Huber loss of d = input - target; ``scale = 1/delta`` makes it PyTorch's smooth L1 loss with
    beta = delta. d/d target is minus d/d input.
    """

    saves = ((0, None), (1, None))

    def forward(self, input: np.ndarray, target: np.ndarray, delta: float = 1.0,  # noqa: A002
                scale: float = 1.0) -> np.ndarray:
        self.diff = input - target
        self.delta = delta
        self.scale = scale
        size = np.abs(self.diff)
        out = np.where(size < delta, 0.5 * self.diff * self.diff, delta * (size - 0.5 * delta))
        return (out * scale if scale != 1.0 else out).astype(self.diff.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_input, need_target = self.needs_input_grad
        slope = np.clip(self.diff, -self.delta, self.delta)
        grad = grad_out * (slope * self.scale if self.scale != 1.0 else slope)
        return (grad if need_input else None, -grad if need_target else None)


class KLDiv(Node):
    """out = y (log y - x) (0 where y = 0);  d/dx = -y, d/dy = log y + 1 - x.

    ``x`` holds log-probabilities (the model's), ``y`` the target's
    probabilities; with ``log_target`` y is given as log-probabilities too:
    out = exp(y) (y - x), d/dx = -exp(y), d/dy = exp(y) (y - x + 1).
    """

    saves = ((0, 1), (1, None))

    def forward(self, x: np.ndarray, y: np.ndarray, log_target: bool = False) -> np.ndarray:
        self.x, self.y, self.log_target = x, y, log_target
        if log_target:
            with quiet():  # y = -inf (probability 0): 0 * inf = nan, silently as in PyTorch
                return np.exp(y) * (y - x)
        with quiet():  # 0 * -inf = nan where y = 0 and x = -inf, silently as in PyTorch
            y_log_y = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)  # x log x -> 0 at 0, as xlogy
            return (y_log_y - y * x).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_x, need_y = self.needs_input_grad
        x, y = self.x, self.y
        if self.log_target:
            p = np.exp(y)
            with quiet():
                return (-grad_out * p if need_x else None, grad_out * p * (y - x + 1) if need_y else None)
        grad_y = None
        if need_y:
            with quiet():
                grad_y = grad_out * (np.log(y) + 1 - x)
        return (-grad_out * y if need_x else None, grad_y)
