"""Linear algebra: matrix products, and ``Linear`` as one node as in PyTorch."""

from __future__ import annotations

import numpy as np

from ..autograd import Node

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
        lead = x.shape[:-1]
        if x.ndim > 2:
            # (*, in) as one (rows, in) matrix: one 2-D BLAS product, twice as fast as NumPy's batched one.
            x = x.reshape(-1, x.shape[-1])
        if x.ndim == 2 and x.shape[0] < weight.shape[0]:
            # A small batch: (W x^T)^T is the same product, and BLAS runs it up to 1.5x
            # faster in that layout (benchmarks/engine.py, batch 32); copied back to row order.
            out = np.ascontiguousarray(np.matmul(weight, x.T).T)
        else:
            out = np.matmul(x, weight.T)
        if bias is not None:
            out += bias
        return out.reshape(lead + (weight.shape[0],)) if len(lead) > 1 else out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        x, weight = self.x, self.weight
        g2 = grad_out.reshape(-1, grad_out.shape[-1]) if grad_out.ndim != 2 else grad_out
        grad_x = np.matmul(g2, weight).reshape(x.shape) if need[0] else None
        grad_w = grad_b = None
        if need[1]:
            x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            grad_w = np.matmul(g2.T, x2)  # (out, in), the weight's own layout
        if len(need) > 2 and need[2]:
            grad_b = g2.sum(axis=0)
        return (grad_x, grad_w, grad_b)[: len(need)]
