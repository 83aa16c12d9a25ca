"""Operations fused for numerical stability (and losses that PyTorch makes primitives).

Each could be composed from other primitives, but the composite overflows,
underflows or builds many nodes for one well-known Jacobian; each class says why.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Node
from ._quiet import quiet

# ---------------------------------------------------------------------------
# Fused for numerical stability
# ---------------------------------------------------------------------------


class LogSumExp(Node):
    """out = log(sum(exp(x))) over ``axis``;  d/dx = softmax(x).

    Fused for stability: computed as m + log(sum(exp(x - m))) with m the
    maximum, so no exp ever overflows. As PyTorch: a row of -inf gives -inf
    (gradient nan), an empty ``axis`` gives log(0) = -inf, silently.
    """

    saves = ((0, None),)
    saves_output = True

    def forward(self, x: np.ndarray, axis: int, keepdim: bool) -> np.ndarray:
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis has a maximum too
        m = np.where(np.isfinite(m), m, 0)
        with quiet():
            shifted = np.exp(x - m)
            total = shifted.sum(axis=axis, keepdims=True)
            self.softmax = shifted / total
            out = np.log(total) + m
        return out if keepdim else np.squeeze(out, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = grad_out if self.keepdim else np.expand_dims(grad_out, self.axis)
        return (grad * self.softmax,)


class Softmax(Node):
    """out_i = exp(x_i) / sum_j exp(x_j) over ``axis``;  dL/dx = out * (g - sum(g * out)).

    Fused for stability (the maximum is subtracted before exp) and because the
    composite would build five nodes for one well-known Jacobian. As PyTorch: a
    row of -inf gives nan (0/0), an empty ``axis`` an empty result, silently.
    """

    saves_output = True

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        with quiet():  # -inf - -inf = nan for a row of -inf
            shifted = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
            self.out = shifted / shifted.sum(axis=axis, keepdims=True)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        out = self.out
        return (out * (grad_out - (grad_out * out).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Node):
    """out = x - logsumexp(x) over ``axis``;  dL/dx = g - softmax(x) * sum(g).

    Fused for stability: finite for logits of any size (the composite
    log(softmax(x)) gives log(0) = -inf once a probability underflows).
    """

    saves_output = True

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        with quiet():  # -inf - -inf = nan for a row of -inf, as in PyTorch
            shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
            out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        softmax = np.exp(self.out)
        return (grad_out - softmax * grad_out.sum(axis=self.axis, keepdims=True),)


class Sigmoid(Node):
    """out = 1 / (1 + exp(-x));  d/dx = out * (1 - out).

    A primitive rather than a composite for numerical stability: composed from
    exp and division, exp(-x) overflows for x << 0 and the backward gives
    inf * 0 = nan. Here exp only ever sees -|x|.
    """

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))
        self.out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * self.out * (1 - self.out),)


class Softplus(Node):
    """out = log(1 + exp(x));  d/dx = sigmoid(x).

    A primitive for numerical stability: computed as logaddexp(0, x), which
    never overflows, and its derivative is right at x = 0 too (a composite of
    relu and abs would give the gradient of a kink there).
    """

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        with quiet():  # logaddexp warns on nan; PyTorch passes it through silently
            return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        e = np.exp(-np.abs(self.x))
        sigmoid = np.where(self.x >= 0, 1 / (1 + e), e / (1 + e))
        return (grad_out * sigmoid.astype(grad_out.dtype, copy=False),)


class NLLLoss(Node):
    """Negative log-likelihood: out_i = -w_i * x[i, y_i], then summed or averaged.

    d out / d x[i, c] = -w_i where c = y_i, else 0 (divided by ``total`` for
    the mean). A primitive as in PyTorch (``nll_loss``): cross-entropy is
    log-softmax followed by this, two nodes in all. ``weights`` already holds
    0 for ignored targets; ``total`` is the divisor of the mean; ``valid``
    (None: all) marks the targets not ignored.
    """

    def forward(self, x: np.ndarray, classes: np.ndarray, weights: np.ndarray, reduction: str,
                total: float, valid: np.ndarray | None = None) -> np.ndarray:
        self.shape, self.classes, self.reduction = x.shape, classes, reduction
        self.rows = np.arange(x.shape[0])
        with quiet():  # total = 0 (an empty batch, or every target ignored): the mean is 0/0 = nan, as PyTorch
            scale = -weights / total if reduction == "mean" else -weights
        if reduction == "mean" and total == 0 and valid is not None:
            scale = np.where(valid, scale, 0)  # ignored targets get gradient 0 even then, as in PyTorch
        self.scale = scale.astype(x.dtype, copy=False)
        losses = x[self.rows, classes] * self.scale
        if reduction == "none":
            return losses
        if reduction == "mean" and total == 0:
            return np.asarray(np.nan, dtype=x.dtype)
        return losses.sum()

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        grad[self.rows, self.classes] = grad_out * self.scale
        return (grad,)
