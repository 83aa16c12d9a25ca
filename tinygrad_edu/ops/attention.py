"""Attention: scaled dot-product attention as one fused node.

Composed from primitives, attention is a matmul, a scale, a mask, a softmax, a
dropout and a second matmul: six nodes per call, each paying the engine's
per-node cost and each keeping its own copy of a (..., L, S) array. The rules
below do the same arithmetic in one node with a closed-form backward, as
PyTorch's fused attention kernels do; the composite remains what they stand
for (and is what `tinygrad_edu.nn.MultiheadAttention` builds when the
attention weights are asked for).

Two nodes share the arithmetic (`attention_forward`, `attention_backward`):
`ScaledDotProductAttention` takes q, k and v, and `PackedSelfAttention` takes
the one matrix a self-attention layer's input projection produces (rows of
[q | k | v] for every position), splitting and merging the heads by views,
so a layer needs no reshape, permute or indexing nodes around its attention.

A speed detail: the probabilities are kept *transposed*, (..., S, L). NumPy's
reductions over the second-to-last axis combine whole contiguous rows at once,
while a reduction over a short last axis (the softmax's max over S keys) runs
one small loop per row, several times slower at attention's sizes.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Node
from ._fast import compiled


def _sum_over_keys(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=-2, keepdims=True)`` as a product with a vector of ones (BLAS: several times faster here)."""
    return np.matmul(np.ones(a.shape[-2], dtype=a.dtype), a)[..., None, :]


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, mask: np.ndarray | None,
                      keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(out, P^T): out = (P * keep) @ v with P = softmax(q k^T * scale + mask) over the last axis.

    P^T has shape (..., S, L). A row of P whose keys are all masked out (-inf)
    is 0 rather than 0/0, so its output is 0, as in PyTorch's CPU kernels.
    """
    scores_t = np.matmul(k, np.swapaxes(q * np.asarray(scale, dtype=q.dtype), -1, -2))  # (..., S, L)
    fast = compiled()
    if scores_t.size == 0:  # no keys or no queries: nothing to normalise; no keys gives out = 0, as in PyTorch
        probs_t = scores_t if mask is None else scores_t + np.swapaxes(mask, -1, -2)
    elif fast is not None:
        probs_t = _softmax_compiled(fast, scores_t, mask)
    else:
        probs_t = _softmax(scores_t, mask)
    if keep is not None:
        return np.matmul(np.swapaxes(probs_t * np.swapaxes(keep, -1, -2), -1, -2), v), probs_t
    return np.matmul(np.swapaxes(probs_t, -1, -2), v), probs_t


def _softmax(scores_t: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """P^T = softmax over the keys (axis -2) of scores_t + mask^T, in place where the shapes allow."""
    if mask is not None:
        mask_t = np.swapaxes(mask, -1, -2)
        if np.broadcast_shapes(scores_t.shape, mask_t.shape) == scores_t.shape:
            scores_t += mask_t
        else:
            scores_t = scores_t + mask_t  # the mask adds batch axes: a new array
    top = scores_t.max(axis=-2, keepdims=True)
    if mask is not None:
        top[top == -np.inf] = 0  # fully masked rows: exp(-inf - 0) = 0, no nan from -inf - -inf
    np.subtract(scores_t, top, out=scores_t)
    probs_t = np.exp(scores_t, out=scores_t)
    total = _sum_over_keys(probs_t)
    if mask is not None:
        total[total == 0] = 1  # fully masked rows: probabilities 0, not 0/0
    probs_t *= 1 / total  # one division per query, then products
    return probs_t


def _softmax_compiled(fast, scores_t: np.ndarray, mask: np.ndarray | None) -> np.ndarray:  # noqa: ANN001
    """`_softmax` with the passes around the exp compiled (ops.kernels.softmax_shift, softmax_normalize)."""
    mask_t = np.zeros((1, 1), dtype=scores_t.dtype) if mask is None else np.swapaxes(mask, -1, -2)
    shape = np.broadcast_shapes(scores_t.shape, mask_t.shape)
    if shape != scores_t.shape:
        scores_t = np.array(np.broadcast_to(scores_t, shape))  # the mask adds batch axes: a new array
    keys, queries = shape[-2:]
    flat = scores_t.reshape(-1, keys, queries)
    scratch = np.empty((flat.shape[0], queries), dtype=scores_t.dtype)  # each column's maximum, then its sum
    fast.softmax_shift(flat, np.broadcast_to(mask_t, shape).reshape(flat.shape), scratch)
    np.exp(flat, out=flat)
    fast.softmax_normalize(flat, scratch)
    return scores_t


def attention_backward(grad_out: np.ndarray, q: np.ndarray, k: np.ndarray, v: np.ndarray, probs_t: np.ndarray,
                       scale: float, keep: np.ndarray | None, need: tuple[bool, bool, bool]) -> tuple:
    """(dL/dq, dL/dk, dL/dv) given dL/d(out), from the saved inputs and P^T (None where not needed).

    dL/dv = P'^T g with P' = P * keep; dP = (g v^T) * keep;
    dL/dS = P * (dP - sum_s(dP * P)) (the softmax rule); dL/dq = dL/dS k * scale; dL/dk = dL/dS^T q * scale.
    """
    need_q, need_k, need_v = need
    keep_t = None if keep is None else np.swapaxes(keep, -1, -2)
    grad_v = np.matmul(probs_t if keep_t is None else probs_t * keep_t, grad_out) if need_v else None
    grad_q = grad_k = None
    if need_q or need_k:
        grad_t = np.matmul(v, np.swapaxes(grad_out, -1, -2))  # dP^T, (..., S, L)
        if keep_t is not None:
            grad_t *= keep_t
        # The softmax rule, in place: dS = P * (dP - sum(dP * P)); then the scale of the scores.
        fast = compiled()
        if fast is not None and grad_t.size and grad_t.shape == probs_t.shape and probs_t.flags.c_contiguous:
            flat = grad_t.reshape(-1, *grad_t.shape[-2:])
            fast.softmax_backward(flat, probs_t.reshape(flat.shape), scale,
                                  np.empty((flat.shape[0], flat.shape[2]), dtype=grad_t.dtype))
        else:
            grad_t -= _sum_over_keys(grad_t * probs_t)
            grad_t *= probs_t
            grad_t *= np.asarray(scale, dtype=grad_t.dtype)
        if need_q:
            grad_q = np.matmul(np.swapaxes(grad_t, -1, -2), k)
        if need_k:
            grad_k = np.matmul(grad_t, q)
    return grad_q, grad_k, grad_v


class ScaledDotProductAttention(Node):
    """out = P v, P = softmax(s q k^T + M);  dv = P^T g, dS = P * (dP - rowsum(dP * P)), dq = s dS k, dk = s dS^T q.

    Here s is ``scale``, M the mask, g = dL/d(out) and dP = g v^T (times
    dropout's ``keep``, when given: then P is replaced by P * keep in the
    output and in dv).

    ``q`` (..., L, E), ``k`` (..., S, E), ``v`` (..., S, Ev), batch axes
    broadcast as in matmul. ``mask``: an additive float array broadcastable to
    (..., L, S) (0 where a key takes part, -inf where it is masked out), or
    ``None``. ``keep``: dropout's multiplier on the probabilities (0 or
    1/(1-p)), or ``None``.
    """

    saves = ((0, None), (1, None), (2, None))

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float,
                mask: np.ndarray | None = None, keep: np.ndarray | None = None) -> np.ndarray:
        self.q, self.k, self.v, self.scale, self.keep = q, k, v, scale, keep
        out, self.probs_t = attention_forward(q, k, v, scale, mask, keep)
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        return attention_backward(grad_out, self.q, self.k, self.v, self.probs_t, self.scale, self.keep,
                                  self.needs_input_grad)


class PackedSelfAttention(Node):
    """Self-attention on packed rows [q | k | v] -> [head_1 | ... | head_h];  per head the gradient of attention.

    Each head's forward and backward are `ScaledDotProductAttention`'s; the
    three gradients are packed back into the rows' layout.

    ``qkv``: (rows, 3E), one row per position, rows ordered (batch, position)
    when ``batch_first`` else (position, batch); each row holds q, k, v, each
    split into ``heads`` consecutive slices of d = E / heads. The output rows
    are ordered (position, batch) whatever the input's order, as PyTorch lays
    out attention's output (so that a dropout after it draws its mask in
    PyTorch's order); shape (rows, E), the heads' outputs side by side (what
    concat(head_1, ..., head_h) is). ``mask`` broadcasts to
    (batch, heads, L, L); ``keep`` as in `ScaledDotProductAttention`.
    """

    saves = ((0, None),)

    def forward(self, qkv: np.ndarray, batch: int, heads: int, batch_first: bool, scale: float,
                mask: np.ndarray | None = None, keep: np.ndarray | None = None) -> np.ndarray:
        rows, width = qkv.shape
        length, d = rows // batch, width // (3 * heads)
        self.layout = (batch, length, heads, d, batch_first)
        self.scale, self.keep = scale, keep
        self.q, self.k, self.v = self._split(qkv)
        heads_out, self.probs_t = attention_forward(self.q, self.k, self.v, scale, mask, keep)
        # (batch, heads, L, d) back to rows ordered (position, batch): the heads side by side.
        return np.ascontiguousarray(heads_out.transpose(2, 0, 1, 3)).reshape(rows, heads * d)

    def backward(self, grad_out: np.ndarray) -> tuple:
        batch, length, heads, d, batch_first = self.layout
        g = grad_out.reshape(length, batch, heads, d).transpose(1, 2, 0, 3)
        grads = attention_backward(g, self.q, self.k, self.v, self.probs_t, self.scale, self.keep,
                                   (True, True, True))
        packed = np.empty((batch, length, 3, heads, d) if batch_first else (length, batch, 3, heads, d),
                          dtype=grad_out.dtype)
        for i, grad in enumerate(grads):
            packed[:, :, i] = grad.transpose(0, 2, 1, 3) if batch_first else grad.transpose(2, 0, 1, 3)
        return (packed.reshape(batch * length, 3 * heads * d),)

    def _split(self, qkv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views q, k, v of shape (batch, heads, L, d) into the packed rows (no copies)."""
        batch, length, heads, d, batch_first = self.layout
        if batch_first:
            view = qkv.reshape(batch, length, 3, heads, d).transpose(2, 0, 3, 1, 4)
        else:
            view = qkv.reshape(length, batch, 3, heads, d).transpose(2, 1, 3, 0, 4)
        return view[0], view[1], view[2]
