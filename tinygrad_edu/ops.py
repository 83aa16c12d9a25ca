"""Primitive operations: each a `Node` with ``forward`` directly above ``backward``.

Every class here is one rule of calculus. ``forward`` works on NumPy arrays and
saves what the derivative needs; ``backward`` receives ``grad_out`` = dL/d(out)
and returns dL/d(input) for each input by the chain rule,
dL/dx = dL/d(out) * d(out)/dx.

Gradients may come back in the broadcast shape; the engine
(`tinygrad_edu.autograd.unbroadcast`) sums them down to each input's shape, so
no operation here deals with broadcasting. Everything else in the library
(``mean``, ``var``, losses, layers) is composed from these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import Node

# ---------------------------------------------------------------------------
# Binary elementwise
# ---------------------------------------------------------------------------


class Add(Node):
    """out = a + b;  d/da = 1, d/db = 1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def backward(self, grad_out: np.ndarray) -> tuple:
        return grad_out, grad_out


class Sub(Node):
    """out = a - b;  d/da = 1, d/db = -1."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def backward(self, grad_out: np.ndarray) -> tuple:
        return grad_out, (-grad_out if self.needs_input_grad[1] else None)


class Mul(Node):
    """out = a * b;  d/da = b, d/db = a."""

    saves = ((0, 1), (1, 0))  # each input's value, for the other's gradient

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a * b

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        return (grad_out * self.b if need_a else None, grad_out * self.a if need_b else None)


class Div(Node):
    """out = a / b;  d/da = 1/b, d/db = -a/b**2."""

    saves = ((0, 1), (1, None))

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a / b

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        grad_a = grad_out / self.b if need_a else None
        grad_b = -grad_out * self.a / (self.b * self.b) if need_b else None
        return grad_a, grad_b


class Pow(Node):
    """out = a ** b;  d/da = b * a**(b-1), d/db = a**b * log(a)."""

    saves = ((0, None), (1, None))
    saves_output = True

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        a, b = self.a, self.b
        grad_a = grad_b = None
        if need_a and b.ndim == 0 and b >= 1:
            grad_a = grad_out * (b * a ** (b - 1))  # the common x**2: no 0**negative can occur
        elif need_a:
            # PyTorch's rule: an exponent of exactly 0 gives gradient 0 (not 0 * a**-1).
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_a = grad_out * np.where(b == 0, 0, b * a ** (b - 1)).astype(grad_out.dtype, copy=False)
        if need_b:
            # log(a) is undefined for a < 0; PyTorch gives 0 where a == 0 and b >= 0.
            with np.errstate(divide="ignore", invalid="ignore"):
                grad_b = grad_out * np.where((a == 0) & (b >= 0), 0, self.out * np.log(a))
        return grad_a, grad_b


class Maximum(Node):
    """out = max(a, b);  gradient to the larger input, shared half-and-half at ties."""

    saves = ((0, None), (1, None))

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return np.maximum(a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        share_a = np.where(self.a == self.b, 0.5, self.a > self.b).astype(grad_out.dtype, copy=False)
        need_a, need_b = self.needs_input_grad
        return (
            grad_out * share_a if need_a else None,
            grad_out * (1.0 - share_a) if need_b else None,
        )


# ---------------------------------------------------------------------------
# Unary elementwise
# ---------------------------------------------------------------------------


class Neg(Node):
    """out = -x;  d/dx = -1."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return -x

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (-grad_out,)


class Exp(Node):
    """out = exp(x);  d/dx = exp(x) = out."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.exp(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * self.out,)


class Log(Node):
    """out = log(x);  d/dx = 1/x."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.log(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out / self.x,)


class Log1p(Node):
    """out = log(1 + x), accurate for tiny x;  d/dx = 1/(1 + x)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.log1p(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out / (1 + self.x),)


class Sqrt(Node):
    """out = sqrt(x);  d/dx = 1 / (2 sqrt(x))."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.sqrt(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out / (2 * self.out),)


class Sin(Node):
    """out = sin(x);  d/dx = cos(x)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.sin(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * np.cos(self.x),)


class Cos(Node):
    """out = cos(x);  d/dx = -sin(x)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.cos(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (-grad_out * np.sin(self.x),)


class Tanh(Node):
    """out = tanh(x);  d/dx = 1 - tanh(x)**2 = 1 - out**2."""

    saves_output = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * (1 - self.out * self.out),)


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
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        e = np.exp(-np.abs(self.x))
        sigmoid = np.where(self.x >= 0, 1 / (1 + e), e / (1 + e))
        return (grad_out * sigmoid.astype(grad_out.dtype, copy=False),)


class Relu(Node):
    """out = max(x, 0);  d/dx = 1 where x > 0, else 0 (0 at x = 0, as in PyTorch)."""

    saves_output = True  # as PyTorch, which keeps relu's result

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * self.mask,)


class Abs(Node):
    """out = |x|;  d/dx = sign(x) (0 at x = 0, as in PyTorch)."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.abs(x)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * np.sign(self.x),)


class Clip(Node):
    """out = min(max(x, low), high);  d/dx = 1 where low <= x <= high, else 0.

    The bounds count as inside, as in PyTorch's ``clamp``.
    """

    saves = ((0, None),)

    def forward(self, x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        self.inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            self.inside &= x >= low
        if high is not None:
            self.inside &= x <= high
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out * self.inside,)


class Overwrite(Node):
    """out = y broadcast to x's shape and dtype (x's old values are discarded);  d/dx = 0, d/dy = 1.

    The node behind in-place overwrites of a tensor in the graph (``zero_``,
    ``fill_``, ``copy_``, ``normal_``): the old value gets no gradient, the
    source (summed over its broadcast copies by the engine) gets all of it.
    """

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        out[...] = y
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return None, grad_out


class Expand(Node):
    """out = x broadcast to ``shape`` (copies along new or length-1 axes);  d/dx = 1 per copy, summed.

    The one operation whose backward is the engine's `unbroadcast`: it hands
    ``grad_out`` back in the broadcast shape, and the engine sums it down.
    """

    def forward(self, x: np.ndarray, shape: tuple) -> np.ndarray:
        return np.broadcast_to(x, shape)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out,)


class Cast(Node):
    """out = x converted to another dtype;  d/dx = 1 (cast back by the engine)."""

    def forward(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return x.astype(dtype)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out,)


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


class Amax(Node):
    """out = max of x over ``axis``;  gradient shared evenly among the tied maxima."""

    saves = ((0, None),)
    saves_output = True

    def forward(self, x: np.ndarray, axis: Any, keepdim: bool, lowest: bool = False) -> np.ndarray:
        reduce = np.min if lowest else np.max
        self.x, self.axis, self.keepdim = x, axis, keepdim
        self.out = np.asarray(reduce(x, axis=axis, keepdims=True))
        return self.out if keepdim else np.asarray(reduce(x, axis=axis, keepdims=False))

    def backward(self, grad_out: np.ndarray) -> tuple:
        winners = self.x == self.out
        count = winners.sum(axis=self.axis, keepdims=True).astype(grad_out.dtype)
        grad = _expand_back(grad_out, self.x.shape, self.axis, self.keepdim)
        return (grad * winners / count,)


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


# ---------------------------------------------------------------------------
# Shape and movement
# ---------------------------------------------------------------------------


class Reshape(Node):
    """out = x with a new shape;  the gradient is reshaped back."""

    def forward(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (grad_out.reshape(self.shape),)


class Permute(Node):
    """out = x with its axes reordered;  the gradient gets the inverse order."""

    def forward(self, x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        self.axes = axes
        return x.transpose(axes)

    def backward(self, grad_out: np.ndarray) -> tuple:
        inverse = sorted(range(len(self.axes)), key=self.axes.__getitem__)
        return (grad_out.transpose(inverse),)


def _is_basic_index(index: tuple) -> bool:
    """True when NumPy indexes with ``index`` by views (ints, slices, None, ...)."""
    for item in index:
        if isinstance(item, (bool, np.bool_)):
            return False
        if not (isinstance(item, (int, np.integer, slice)) or item is None or item is Ellipsis):
            return False
    return True


class GetItem(Node):
    """out = x[index];  the gradient lands on the selected positions.

    With integer-array indices one element may be picked several times; its
    gradient is then the *sum* of the gradients of each pick.
    """

    def forward(self, x: np.ndarray, index: tuple) -> np.ndarray:
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        if _is_basic_index(self.index):
            # Views pick each element at most once: write the gradient in place.
            grad[self.index] = grad_out
        else:
            # Integer arrays may pick an element several times; add.at adds
            # every pick's gradient (plain assignment would keep only the last).
            np.add.at(grad, self.index, grad_out)
        return (grad,)


class Cat(Node):
    """out = the inputs joined along ``axis``;  each input gets its slice of the gradient."""

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        self.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return tuple(np.split(grad_out, self.splits, axis=self.axis))


class Where(Node):
    """out = a where cond else b;  the gradient goes to whichever input was taken.

    ``cond`` is a constant mask (no gradient), passed as an option.
    """

    def forward(self, a: np.ndarray, b: np.ndarray, cond: np.ndarray) -> np.ndarray:
        self.cond = cond
        return np.where(cond, a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_a, need_b = self.needs_input_grad
        zero = np.zeros((), dtype=grad_out.dtype)
        return (
            np.where(self.cond, grad_out, zero) if need_a else None,
            np.where(self.cond, zero, grad_out) if need_b else None,
        )


# ---------------------------------------------------------------------------
# Linear algebra
# ---------------------------------------------------------------------------


class MatMul(Node):
    """out = a @ b;  dL/da = grad_out @ b^T, dL/db = a^T @ grad_out.

    Vectors are treated as NumPy does: a 1-D ``a`` is a row (1, k), a 1-D ``b``
    a column (k, 1), and the added axis is dropped from the result.
    """

    saves = ((0, 1), (1, 0))  # each input's value, for the other's gradient

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return np.matmul(a, b)

    def backward(self, grad_out: np.ndarray) -> tuple:
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # The gradient in the shape a2 @ b2 has, with the vector axes put back.
        shape2 = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (a2.shape[-2], b2.shape[-1])
        g = grad_out if grad_out.shape == shape2 else grad_out.reshape(shape2)
        need_a, need_b = self.needs_input_grad
        grad_a = np.matmul(g, np.swapaxes(b2, -1, -2)) if need_a else None
        grad_b = np.matmul(np.swapaxes(a2, -1, -2), g) if need_b else None
        if need_b and b.ndim == 1:
            grad_b = grad_b[..., 0]
        # Batch axes (and the length-1 row of a vector a) are summed by the engine.
        return grad_a, grad_b


class Linear(Node):
    """out = x @ W^T + b;  dL/dx = g @ W, dL/dW = g^T @ x, dL/db = g summed over the batch.

    The same rule as composing transpose, matmul and a broadcast add, as one
    node: PyTorch makes ``linear`` a primitive too (``addmm``), and it halves
    the graph of an MLP. ``x`` may have any leading shape (*, in_features).
    """

    saves = ((0, 1), (1, 0))  # x for the weight's gradient, the weight for x's

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        self.x, self.weight = x, weight
        if x.ndim == 2 and x.shape[0] < weight.shape[0]:
            # A small batch: (W x^T)^T is the same product, and BLAS runs it up to 1.5x
            # faster in that layout (benchmarks/engine.py, batch 32); copied back to row order.
            out = np.ascontiguousarray(np.matmul(weight, x.T).T)
        else:
            out = np.matmul(x, weight.T)
        if bias is not None:
            out += bias
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        x, weight = self.x, self.weight
        grad_x = np.matmul(grad_out, weight) if need[0] else None
        grad_w = grad_b = None
        g2 = grad_out.reshape(-1, grad_out.shape[-1]) if grad_out.ndim != 2 else grad_out
        if need[1]:
            x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            grad_w = np.matmul(g2.T, x2)  # (out, in), the weight's own layout
        if len(need) > 2 and need[2]:
            grad_b = g2.sum(axis=0)
        return (grad_x, grad_w, grad_b)[: len(need)]


class NLLLoss(Node):
    """Negative log-likelihood: out_i = -w_i * x[i, y_i], then summed or averaged.

    d out / d x[i, c] = -w_i where c = y_i, else 0 (divided by ``total`` for
    the mean). A primitive as in PyTorch (``nll_loss``): cross-entropy is
    log-softmax followed by this, two nodes in all. ``weights`` already holds
    0 for ignored targets; ``total`` is the divisor of the mean.
    """

    def forward(self, x: np.ndarray, classes: np.ndarray, weights: np.ndarray, reduction: str,
                total: float) -> np.ndarray:
        self.shape, self.classes, self.reduction = x.shape, classes, reduction
        self.rows = np.arange(x.shape[0])
        self.scale = (-weights / total if reduction == "mean" else -weights).astype(x.dtype, copy=False)
        losses = x[self.rows, classes] * self.scale
        return losses if reduction == "none" else losses.sum()

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        grad[self.rows, self.classes] = grad_out * self.scale
        return (grad,)


# ---------------------------------------------------------------------------
# Fused for numerical stability
# ---------------------------------------------------------------------------


class LogSumExp(Node):
    """out = log(sum(exp(x))) over ``axis``;  d/dx = softmax(x).

    Fused for stability: computed as m + log(sum(exp(x - m))) with m the
    maximum, so no exp ever overflows.
    """

    saves = ((0, None),)
    saves_output = True

    def forward(self, x: np.ndarray, axis: int, keepdim: bool) -> np.ndarray:
        self.shape, self.axis, self.keepdim = x.shape, axis, keepdim
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
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
    composite would build five nodes for one well-known Jacobian.
    """

    saves_output = True

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        self.axis = axis
        shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
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
        shifted = x - np.max(x, axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        self.out = out
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        softmax = np.exp(self.out)
        return (grad_out - softmax * grad_out.sum(axis=self.axis, keepdims=True),)
