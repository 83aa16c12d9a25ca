"""Normalisation layers and the embedding lookup, each one fused node with its closed-form gradient.

Every normaliser here standardises ``x`` over some axes,

    x_hat = (x - mean) / sqrt(var + eps)          (var biased: divided by n),

then scales and shifts it, ``out = x_hat * weight + bias``. Composed from
primitives that is about ten nodes (mean, subtract, square, mean, add, sqrt,
divide, multiply, add); fused it is one, and its backward is the well-known
closed form, with g = dL/d(x_hat) and means over the same axes:

    dL/dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps).

Each keeps a copy of its (small) weight and the x_hat it computed, never a
reference to an input, so changing a parameter in place after the forward
pass cannot make its backward wrong (and needs no version check).

They differ only in which axes they normalise over and which they scale:
`BatchNorm` over the batch (and length/spatial) axes, per channel;
`LayerNorm` over the trailing axes of each sample; `GroupNorm` over groups of
channels of each sample; `RMSNorm` divides by the root mean square alone.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Node
from ._fast import compiled

__all__ = ["BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "Embedding"]


def standardized_grad(grad_x_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray, axes: tuple) -> np.ndarray:
    """dL/dx for x_hat = (x - mean(x)) * inv_std over ``axes``, given g = dL/dx_hat.

    dL/dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)); the two means
    are the gradient flowing through the mean and through the variance.
    """
    n = grad_x_hat.size // max(inv_std.size, 1)  # an empty batch has no statistics: its gradient is empty
    mean_g = np.add.reduce(grad_x_hat, axis=axes, keepdims=True) / n
    mean_g_x_hat = np.add.reduce(grad_x_hat * x_hat, axis=axes, keepdims=True) / n
    grad_x = grad_x_hat - mean_g
    grad_x -= x_hat * mean_g_x_hat
    grad_x *= inv_std
    return grad_x


class BatchNorm(Node):
    """out = (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1);  closed-form dL/dx, dL/dw, dL/db.

    In training (``training=True``) mean and var (biased) are the batch's own,
    computed here from x over every axis but 1 (n values per channel), and the
    gradient flows through them:
    dL/dx = weight / sqrt(var + eps) * (g - sum(g)/n - x_hat * sum(g * x_hat)/n),
    dL/dweight = sum(g * x_hat), dL/dbias = sum(g). If ``stats`` is a dict it
    receives them as ``stats["mean"]`` and ``stats["var"]`` (for the running
    estimates). In evaluation the given ``mean`` and ``var`` (the running
    estimates, shape (C,)) are constants: dL/dx = g * weight / sqrt(var + eps).
    """

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
                eps: float, training: bool, mean: np.ndarray | None = None, var: np.ndarray | None = None,
                stats: dict | None = None) -> np.ndarray:
        self.shape = shape = (1, -1) + (1,) * (x.ndim - 2)  # per-channel values broadcast along axis 1
        self.training = training
        if training:
            count = x.size // x.shape[1]
            mean = (channel_sums(x) / count).astype(x.dtype, copy=False)
            self.x_hat = x - mean.reshape(shape)
            var = channel_sums(self.x_hat * self.x_hat) / count
            if stats is not None:
                stats["mean"], stats["var"] = mean, var
        else:
            self.x_hat = x - mean.astype(x.dtype, copy=False).reshape(shape)
        self.inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)
        self.x_hat *= self.inv_std
        self.weight = None if weight is None else weight.reshape(shape).copy()
        if weight is None:
            return self.x_hat.copy()  # the output is the caller's to change; x_hat stays for backward
        out = self.x_hat * self.weight
        if bias is not None:
            out += bias.reshape(shape)
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        x_hat = self.x_hat
        grad_bias = channel_sums(grad_out)
        grad_weight = channel_sums(grad_out * x_hat)
        grad_x = None
        if need[0]:
            scale = self.inv_std if self.weight is None else self.inv_std * self.weight
            grad_x = grad_out * scale
            if self.training:
                # The closed form with g = grad_out * weight: the weight factors out of both means.
                n = grad_out.size // grad_out.shape[1]
                grad_x -= scale * (grad_bias / n).reshape(self.shape)
                grad_x -= x_hat * (scale * (grad_weight / n).reshape(self.shape))
        grads = [grad_x]
        if len(need) > 1:
            grads.append(grad_weight if need[1] else None)
        if len(need) > 2:
            grads.append(grad_bias if need[2] else None)
        return tuple(grads)


def channel_sums(a: np.ndarray) -> np.ndarray:
    """The sums of ``a`` over every axis but 1, shape (C,).

    For (N, C) as a product with a vector of ones: BLAS runs it about twice as
    fast as NumPy's reduction down axis 0 at the sizes of a training batch.
    """
    if a.ndim == 2:
        key = (a.shape[0], a.dtype)
        ones = _ONES.get(key)
        if ones is None:
            ones = _ONES[key] = np.ones(a.shape[0], dtype=a.dtype)
            ones.flags.writeable = False
        return np.dot(ones, a)
    return np.add.reduce(a, axis=(0,) + tuple(range(2, a.ndim)))


#: Vectors of ones for `channel_sums`, one per (length, dtype) met (batch sizes: a handful).
_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


class LayerNorm(Node):
    """out = (x - mean) / sqrt(var + eps) * weight + bias over the last ``n_axes`` axes;  closed-form gradients.

    Each sample is standardised over its trailing axes (the ``normalized_shape``),
    and weight and bias have that trailing shape. dL/dx is the closed form of
    the module docstring with g = grad_out * weight; dL/dweight = sum(g_out * x_hat)
    and dL/dbias = sum(g_out) over the leading axes.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
                n_axes: int, eps: float) -> np.ndarray:
        self.axes = axes = tuple(range(x.ndim - n_axes, x.ndim))
        n = math.prod(x.shape[x.ndim - n_axes:])  # values per normalised group
        self.fast = compiled() if x.dtype.kind == "f" and n > 0 and x.size > 0 else None
        if self.fast is not None:
            return self._forward_compiled(x, weight, bias, n, eps)
        centred = x - np.add.reduce(x, axis=axes, keepdims=True) / n
        var = np.add.reduce(centred * centred, axis=axes, keepdims=True) / n
        self.inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
        centred *= self.inv_std
        self.x_hat = centred
        self.weight = None if weight is None else weight.copy()
        if weight is None:
            return self.x_hat.copy()  # the output is the caller's to change; x_hat stays for backward
        out = self.x_hat * weight
        if bias is not None:
            out += bias
        return out

    def _forward_compiled(self, x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, n: int,
                          eps: float) -> np.ndarray:
        """The same formulas, one compiled pass per row (ops.kernels.layer_norm), on x as (rows, n)."""
        x2 = np.ascontiguousarray(x).reshape(-1, n)
        self.weight = np.ones(n, x.dtype) if weight is None else weight.reshape(n).astype(x.dtype, copy=True)
        shift = np.zeros(n, x.dtype) if bias is None else np.ascontiguousarray(bias.reshape(n), dtype=x.dtype)
        out, self.x_hat = np.empty_like(x2), np.empty_like(x2)
        self.inv_std = np.empty(x2.shape[0], dtype=x.dtype)
        self.fast.layer_norm(x2, self.weight, shift, eps, out, self.x_hat, self.inv_std)
        return out.reshape(x.shape)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        n_axes = len(self.axes)
        if self.fast is not None:
            n = self.x_hat.shape[1]
            g2 = np.ascontiguousarray(grad_out).reshape(-1, n)
            grad_x = np.empty_like(g2)
            grad_weight, grad_bias = np.zeros(n, dtype=g2.dtype), np.zeros(n, dtype=g2.dtype)
            self.fast.layer_norm_backward(g2, self.weight, self.x_hat, self.inv_std, grad_x, grad_weight, grad_bias)
            shape = grad_out.shape[grad_out.ndim - n_axes:]
            grads = (grad_x.reshape(grad_out.shape) if need[0] else None,
                     grad_weight.reshape(shape), grad_bias.reshape(shape))
            return tuple(g if want else None for g, want in zip(grads, need))
        grad_x = None
        if need[0]:
            grad_x_hat = grad_out if self.weight is None else grad_out * self.weight
            grad_x = standardized_grad(grad_x_hat, self.x_hat, self.inv_std, self.axes)
        grads = [grad_x]
        leading = tuple(range(grad_out.ndim - n_axes))
        if len(need) > 1:
            grads.append((grad_out * self.x_hat).sum(axis=leading) if need[1] else None)
        if len(need) > 2:
            grads.append(grad_out.sum(axis=leading) if need[2] else None)
        return tuple(grads)


class GroupNorm(Node):
    """out = x_hat * weight + bias, x_hat standardised over each sample's ``groups`` groups of channels.

    x of shape (N, C, *) is viewed as (N, groups, C/groups * prod(*)) and each
    row standardised; weight and bias (C,) scale and shift per channel.
    dL/dx is the module's closed form over each group with g = grad_out * weight;
    dL/dweight = sum(g_out * x_hat), dL/dbias = sum(g_out) over every axis but 1.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None, bias: np.ndarray | None = None, *,
                groups: int, eps: float) -> np.ndarray:
        grouped = x.reshape(x.shape[0], groups, int(np.prod(x.shape[1:])) // groups)  # not -1: N may be 0
        mean = grouped.mean(axis=2, keepdims=True)
        centred = grouped - mean
        var = (centred * centred).mean(axis=2, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
        centred *= self.inv_std
        self.x_hat = centred  # (N, groups, m)
        self.shape = x.shape
        shape = (1, -1) + (1,) * (x.ndim - 2)
        self.weight = None if weight is None else weight.reshape(shape).copy()
        out = self.x_hat.reshape(x.shape)
        if weight is None:
            return out.copy()  # the output is the caller's to change; x_hat stays for backward
        out = out * self.weight
        if bias is not None:
            out += bias.reshape(shape)
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        grad_x = None
        if need[0]:
            grad_x_hat = grad_out if self.weight is None else grad_out * self.weight
            grad_x_hat = grad_x_hat.reshape(self.x_hat.shape)
            grad_x = standardized_grad(grad_x_hat, self.x_hat, self.inv_std, (2,)).reshape(self.shape)
        grads = [grad_x]
        axes = (0,) + tuple(range(2, grad_out.ndim))
        if len(need) > 1:
            grads.append((grad_out * self.x_hat.reshape(self.shape)).sum(axis=axes) if need[1] else None)
        if len(need) > 2:
            grads.append(grad_out.sum(axis=axes) if need[2] else None)
        return tuple(grads)


class RMSNorm(Node):
    """out = x / sqrt(mean(x^2) + eps) * weight over the last ``n_axes`` axes;  dL/dx = r (g - x_n mean(g x_n)).

    With r = 1 / sqrt(mean(x^2) + eps), x_n = x r and g = grad_out * weight
    (means over the normalised axes): no centring, so only the second
    correction term of the standardising gradient remains.
    dL/dweight = sum(grad_out * x_n) over the leading axes.
    """

    def forward(self, x: np.ndarray, weight: np.ndarray | None = None, *, n_axes: int, eps: float) -> np.ndarray:
        self.axes = tuple(range(x.ndim - n_axes, x.ndim))
        self.inv_rms = 1.0 / np.sqrt((x * x).mean(axis=self.axes, keepdims=True) + x.dtype.type(eps))
        self.x_normed = x * self.inv_rms
        self.weight = None if weight is None else weight.copy()
        return self.x_normed.copy() if weight is None else self.x_normed * weight

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        x_normed = self.x_normed
        grad_x = None
        if need[0]:
            g = grad_out if self.weight is None else grad_out * self.weight
            grad_x = self.inv_rms * (g - x_normed * (g * x_normed).mean(axis=self.axes, keepdims=True))
        if len(need) == 1:
            return (grad_x,)
        leading = tuple(range(grad_out.ndim - len(self.axes)))
        return grad_x, ((grad_out * x_normed).sum(axis=leading) if need[1] else None)


class Embedding(Node):
    """out = weight[indices];  dL/dweight[k] = sum of grad_out over the positions where indices == k.

    The lookup is a row gather, so its gradient scatters each position's
    upstream gradient back into the row it came from, adding where an index
    repeats. The ``padding_idx`` row gets no gradient; with
    ``scale_grad_by_freq`` each row's gradient is divided by how often its
    index occurs in the batch (PyTorch's options).
    """

    def forward(self, weight: np.ndarray, *, indices: np.ndarray, padding_idx: int | None = None,
                scale_grad_by_freq: bool = False) -> np.ndarray:
        self.indices, self.padding_idx, self.scale_grad_by_freq = indices, padding_idx, scale_grad_by_freq
        self.weight_shape = weight.shape
        return weight[indices]

    def backward(self, grad_out: np.ndarray) -> tuple:
        rows = self.indices.reshape(-1)
        grad_rows = grad_out.reshape((rows.size,) + self.weight_shape[1:])  # not -1: rows.size may be 0
        if self.scale_grad_by_freq:
            counts = np.bincount(rows, minlength=self.weight_shape[0])
            grad_rows = grad_rows / counts[rows, None].astype(grad_out.dtype)
        grad = np.zeros(self.weight_shape, dtype=grad_out.dtype)
        fast = compiled()
        if fast is not None and grad.ndim == 2:  # the same additions, in the same order, in one compiled pass
            fast.index_add_rows(rows, np.ascontiguousarray(grad_rows), grad)
        else:
            np.add.at(grad, rows, grad_rows)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return (grad,)
