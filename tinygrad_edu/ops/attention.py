"""Attention: scaled dot-product attention as one fused node.

Composed from primitives, attention is a matmul, a scale, a mask, a softmax, a
dropout and a second matmul: six nodes per call, each paying the engine's
per-node cost and each keeping its own copy of a (..., L, S) array. The rule
below does the same arithmetic in one node with a closed-form backward, as
PyTorch's fused attention kernels do; the composite remains what it stands for
(and is what `tinygrad_edu.nn.MultiheadAttention` builds when the attention
weights are asked for).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Node


class ScaledDotProductAttention(Node):
    """out = P' @ v with P = softmax(q k^T * scale + mask), P' = P * keep;
    dL/dv = P'^T g, dL/dS = P * (dP - sum(dP * P)) with dP = (g v^T) * keep, dL/dq = dL/dS k * scale,
    dL/dk = dL/dS^T q * scale.

    ``q`` (..., L, E), ``k`` (..., S, E), ``v`` (..., S, Ev), batch axes
    broadcast as in matmul. ``mask``: an additive float array broadcastable to
    (..., L, S) (0 where a key takes part, -inf where it is masked out), or
    ``None``. ``keep``: dropout's multiplier on the probabilities (0 or
    1/(1-p)), or ``None``. A row whose keys are all masked out attends to
    nothing: its probabilities are 0 and its output is 0, as in PyTorch's
    ``scaled_dot_product_attention`` on the CPU.
    """

    saves = ((0, None), (1, None), (2, None))

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float,
                mask: np.ndarray | None = None, keep: np.ndarray | None = None) -> np.ndarray:
        self.q, self.k, self.v, self.scale, self.keep = q, k, v, scale, keep
        scores = np.matmul(q * np.asarray(scale, dtype=q.dtype), np.swapaxes(k, -1, -2))
        if mask is not None:
            scores = scores + mask  # broadcasting may add batch axes: never in place
        top = scores.max(axis=-1, keepdims=True)
        if mask is not None:
            top[top == -np.inf] = 0  # fully masked rows: exp(-inf - 0) = 0, no nan from -inf - -inf
        np.subtract(scores, top, out=scores)
        np.exp(scores, out=scores)
        total = scores.sum(axis=-1, keepdims=True)
        if mask is not None:
            total[total == 0] = 1  # fully masked rows: probabilities 0, not 0/0
        scores /= total
        self.probs = scores
        return np.matmul(scores if keep is None else scores * keep, v)

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_q, need_k, need_v = self.needs_input_grad
        probs, keep = self.probs, self.keep
        dropped = probs if keep is None else probs * keep
        grad_v = np.matmul(np.swapaxes(dropped, -1, -2), grad_out) if need_v else None
        grad_q = grad_k = None
        if need_q or need_k:
            grad_p = np.matmul(grad_out, np.swapaxes(self.v, -1, -2))
            if keep is not None:
                grad_p *= keep
            # The softmax rule, in place: dS = P * (dP - sum(dP * P)).
            grad_p -= (grad_p * probs).sum(axis=-1, keepdims=True)
            grad_p *= probs
            grad_p *= np.asarray(self.scale, dtype=grad_p.dtype)
            if need_q:
                grad_q = np.matmul(grad_p, self.k)
            if need_k:
                grad_k = np.matmul(np.swapaxes(grad_p, -1, -2), self.q)
        return grad_q, grad_k, grad_v
