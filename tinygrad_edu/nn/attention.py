"""Attention: ``scaled_dot_product_attention`` and `MultiheadAttention`, as in PyTorch.

Attention lets every position of a sequence look at every position of another
(or the same) sequence and take a weighted average of what it finds there:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d) + M) V

Q holds one query row per target position, K and V one key and one value row
per source position; ``softmax`` over the source positions turns each query's
similarity scores into weights that sum to 1, and the additive mask M (0 where
a key may be looked at, -inf where it may not) switches keys off. Multi-head
attention runs ``num_heads`` such attentions side by side on slices of the
embedding, each with its own learned projections, all in one batched matmul.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .. import rng as _rng
from .._checks import check_int, check_probability
from ..dtypes import get_default_dtype
from ..tensor import ShapeError, Tensor, _apply, _wrap, cat
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter

__all__ = ["scaled_dot_product_attention", "MultiheadAttention"]


# ---------------------------------------------------------------------------
# Masks: one additive float array, whatever form the caller gave
# ---------------------------------------------------------------------------


def _mask_array(who: str, name: str, mask: Any) -> np.ndarray:
    """The array behind ``mask`` (a Tensor or array), which must hold bools or floats."""
    array = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype.kind not in "bf":
        raise TypeError(f"{who}: {name} must be a bool or floating-point tensor, got dtype {array.dtype}")
    return array


def _additive(array: np.ndarray, dtype: np.dtype, masked_out_is_true: bool) -> np.ndarray:
    """A bool or float mask as the float added to the scores: 0 (take part) or -inf (masked out).

    PyTorch's two bool conventions differ: for ``scaled_dot_product_attention``
    True means *take part*; for `MultiheadAttention` True means *masked out*.
    """
    if array.dtype.kind == "b":
        masked = array if masked_out_is_true else ~array
        return np.where(masked, np.asarray(-np.inf, dtype=dtype), np.asarray(0, dtype=dtype))
    return array.astype(dtype, copy=False)


def _dropout_keep(shape: tuple, dropout_p: float, dtype: np.dtype) -> np.ndarray | None:
    """Dropout's multiplier on attention weights of ``shape``: 0 with probability p, else 1/(1 - p)."""
    if dropout_p == 0.0:
        return None
    if dropout_p == 1.0:
        return np.zeros(shape, dtype=dtype)
    # PyTorch's CPU dropout mask: bernoulli_(1 - p), one float64 uniform per weight, then / (1 - p).
    keep = _rng.bernoulli(_rng.generator(), shape, 1.0 - dropout_p).astype(dtype)
    keep /= np.asarray(1.0 - dropout_p, dtype=dtype)
    return keep


def _attend(q: Tensor, k: Tensor, v: Tensor, mask: np.ndarray | None, dropout_p: float, scale: float) -> Tensor:
    """One fused attention node (`tinygrad_edu.ops.ScaledDotProductAttention`), dropout drawn here."""
    keep = None
    if dropout_p > 0.0:
        shape = np.broadcast_shapes(q.shape[:-1], k.shape[:-2] + (1,)) + (k.shape[-2],)
        keep = _dropout_keep(shape if mask is None else np.broadcast_shapes(shape, mask.shape), dropout_p, q.dtype)
    return _apply(ops.ScaledDotProductAttention, q, k, v, scale=scale, mask=mask, keep=keep)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q K^T * scale + M) V, as ``torch.nn.functional.scaled_dot_product_attention``.

    One graph node with a closed-form backward (see
    `tinygrad_edu.ops.ScaledDotProductAttention`).

    Args:
        query: (..., L, E) — L target positions.
        key: (..., S, E) — S source positions.
        value: (..., S, Ev).
        attn_mask: broadcastable to (..., L, S). A **bool** mask says which keys
            *take part* (True = attend; note that `MultiheadAttention`'s bool
            masks mean the opposite); a **float** mask is added to the scores
            (use -inf to mask out). Treated as a constant: no gradient flows
            into a float mask.
        dropout_p: probability of zeroing each attention weight (the rest are
            scaled by 1/(1 - p)); applied whenever it is > 0, as in PyTorch.
        is_causal: mask out every key after the query's position (a lower
            triangular mask); then ``attn_mask`` must be ``None``.
        scale: the factor on Q K^T; 1/sqrt(E) when ``None``.
        enable_gqa: grouped-query attention: ``key`` and ``value`` may have
            fewer heads (axis -3) than ``query``, a divisor of its count; each
            key head serves that many consecutive query heads.

    Returns:
        (..., L, Ev). A query whose keys are all masked out gets 0, as
        PyTorch's CPU kernels give.

    Example:
        >>> import tinygrad_edu as tg
        >>> q, k, v = tg.randn(2, 4, 5, 8), tg.randn(2, 4, 6, 8), tg.randn(2, 4, 6, 3)
        >>> tg.nn.functional.scaled_dot_product_attention(q, k, v).shape
        (2, 4, 5, 3)
    """
    who = "scaled_dot_product_attention"
    check_probability(who, "dropout_p", dropout_p)
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor) or t.ndim < 2 or t.dtype.kind != "f":
            shape = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ShapeError(f"{who}: {name} must be a floating-point Tensor of shape (..., length, features), "
                             f"got {shape}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"{who}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got "
                         f"{query.shape}, {key.shape} and {value.shape}")
    if enable_gqa and min(query.ndim, key.ndim, value.ndim) >= 3:
        heads, key_heads, value_heads = query.shape[-3], key.shape[-3], value.shape[-3]
        if heads % key_heads or heads % value_heads:
            raise ShapeError(f"{who}: with enable_gqa the query's heads ({heads}) must be a multiple of the key's "
                             f"({key_heads}) and the value's ({value_heads})")
        key, value = _repeat_heads(key, heads // key_heads), _repeat_heads(value, heads // value_heads)
    try:
        batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ShapeError(f"{who}: the batch axes of query {query.shape}, key {key.shape} and value "
                         f"{value.shape} cannot be broadcast together") from None
    length, source = query.shape[-2], key.shape[-2]
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{who}: give attn_mask or is_causal=True, not both")
        mask = _additive(np.tril(np.ones((length, source), dtype=bool)), query.dtype, masked_out_is_true=False)
    elif attn_mask is not None:
        array = _mask_array(who, "attn_mask", attn_mask)
        try:
            np.broadcast_shapes(array.shape, batch + (length, source))
            fits = True
        except ValueError:
            fits = False
        if not fits or array.ndim > len(batch) + 2:
            raise ShapeError(f"{who}: attn_mask of shape {array.shape} cannot be broadcast to the scores' shape "
                             f"{batch + (length, source)} (batch..., L, S)")
        mask = _additive(array, query.dtype, masked_out_is_true=False)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    return _attend(query, key, value, mask, float(dropout_p), float(scale))


def _repeat_heads(t: Tensor, times: int) -> Tensor:
    """Each head (axis -3) repeated ``times`` times in a row, as ``repeat_interleave(times, dim=-3)``."""
    if times == 1:
        return t
    shape = t.shape
    expanded = t.unsqueeze(-3).expand(*shape[:-2], times, *shape[-2:])
    return expanded.reshape(*shape[:-3], shape[-3] * times, *shape[-2:])


# ---------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------


class MultiheadAttention(Module):
    """Multi-head attention, exactly ``torch.nn.MultiheadAttention``.

    With h = ``num_heads`` heads of size d = ``embed_dim`` / h:

        head_i = softmax((Q W_i^Q)(K W_i^K)^T / sqrt(d) + M) (V W_i^V)
        MultiHead(Q, K, V) = concat(head_1, ..., head_h) W^O + b^O

    The h projections of Q (and of K, of V) are the rows of one matrix, so all
    heads are computed by one linear layer and one batched attention.

    Args:
        embed_dim: E, the model's width (the query's feature size).
        num_heads: h; must divide ``embed_dim``.
        dropout: dropout probability on the attention weights (training only).
        bias: learn the input and output projections' biases.
        add_bias_kv: append one learned key and value row (``bias_k``,
            ``bias_v``) to the source sequence.
        add_zero_attn: append a row of zeros to the keys and values.
        kdim, vdim: feature sizes of ``key`` and ``value`` (E when ``None``);
            when they differ from E the projections are kept separately.
        batch_first: inputs and output are (N, L, E) instead of (L, N, E).
        device, dtype: as in PyTorch (the CPU only; the default float dtype).

    Parameters (PyTorch's names, layouts and init): ``in_proj_weight`` (3E, E),
    the rows of W^Q, W^K, W^V stacked (or ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim)), Xavier-uniform;
    ``in_proj_bias`` (3E,), zeros; ``out_proj`` a `Linear` (E, E) with a zero
    bias; ``bias_k``, ``bias_v`` (1, 1, E), Xavier-normal.

    Forward: ``forward(query, key, value, key_padding_mask=None,
    need_weights=True, attn_mask=None, average_attn_weights=True,
    is_causal=False)`` returns ``(output, weights)``: output (L, N, E) (or
    (N, L, E) with ``batch_first``; (L, E) for unbatched input), weights
    (N, L, S) averaged over the heads, (N, h, L, S) with
    ``average_attn_weights=False``, or ``None`` with ``need_weights=False``.
    Masks follow PyTorch: a **bool** mask's True means *masked out* (not
    attended), a **float** mask is added to the scores; ``attn_mask`` is
    (L, S) or (N*h, L, S), ``key_padding_mask`` is (N, S). ``is_causal`` is a
    hint that ``attn_mask`` is the causal mask (it must then be given).

    Example:
        >>> import tinygrad_edu as tg
        >>> mha = tg.nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
        >>> x = tg.randn(3, 5, 8)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        who = "MultiheadAttention"
        self.embed_dim = check_int(who, "embed_dim", embed_dim, minimum=1)
        self.num_heads = check_int(who, "num_heads", num_heads, minimum=1)
        if embed_dim % num_heads:
            raise ValueError(f"{who}: embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads}")
        self.dropout = check_probability(who, "dropout", dropout)
        self.kdim = embed_dim if kdim is None else check_int(who, "kdim", kdim, minimum=1)
        self.vdim = embed_dim if vdim is None else check_int(who, "vdim", vdim, minimum=1)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.batch_first = bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        if device is not None and str(device) != "cpu":
            raise ValueError(f"{who}: this library runs on the CPU only, got device={device!r}")
        dtype = dtype or get_default_dtype()

        def parameter(*shape: int) -> Parameter:
            return Parameter(Tensor(np.zeros(shape), dtype=dtype))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = parameter(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = parameter(embed_dim, embed_dim)
            self.k_proj_weight = parameter(embed_dim, self.kdim)
            self.v_proj_weight = parameter(embed_dim, self.vdim)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = parameter(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = parameter(1, 1, embed_dim)
            self.bias_v = parameter(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's init: Xavier-uniform input projections, zero biases, Xavier-normal bias_k and bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # -- checks -----------------------------------------------------------------

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[bool, int, int, int]:
        """(batched, N, L, S) after checking the three inputs' shapes against the layer."""
        who = "MultiheadAttention"
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{who}: {name} must be a Tensor, got {type(t).__name__}")
        batched = query.ndim == 3
        layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
        if query.ndim not in (2, 3) or query.shape[-1] != self.embed_dim:
            raise ShapeError(f"{who}: query must have shape {layout} or (L, E) with E = embed_dim = "
                             f"{self.embed_dim}, got {query.shape}")
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise ShapeError(f"{who}: query, key and value must all be batched (3-D) or all unbatched (2-D), got "
                             f"{query.shape}, {key.shape} and {value.shape}")
        if key.shape[-1] != self.kdim or value.shape[-1] != self.vdim:
            raise ShapeError(f"{who}: key and value must end in kdim = {self.kdim} and vdim = {self.vdim} "
                             f"features, got {key.shape} and {value.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(f"{who}: key {key.shape} and value {value.shape} must have the same length "
                             f"(and batch size)")
        if not batched:
            return False, 1, query.shape[0], key.shape[0]
        batch_axis = 0 if self.batch_first else 1
        if key.shape[batch_axis] != query.shape[batch_axis]:
            raise ShapeError(f"{who}: query {query.shape} and key {key.shape} must have the same batch size "
                             f"(inputs are {layout})")
        length, source = query.shape[1 - batch_axis], key.shape[1 - batch_axis]
        return True, query.shape[batch_axis], length, source

    def _merged_mask(self, attn_mask: Any, key_padding_mask: Any, batched: bool, batch: int, length: int,
                     source: int, dtype: np.dtype) -> np.ndarray | None:
        """Both masks as one additive float array broadcastable to (N, h, L, S'), or ``None``."""
        who, heads = "MultiheadAttention", self.num_heads
        mask = None
        if attn_mask is not None:
            array = _mask_array(who, "attn_mask", attn_mask)
            if array.ndim == 2:
                if array.shape != (length, source):
                    raise ShapeError(f"{who}: a 2-D attn_mask must have shape (L, S) = {(length, source)}, "
                                     f"got {array.shape}")
                array = array[None, None]
            elif array.ndim == 3:
                expected = (batch * heads, length, source)
                if array.shape != expected:
                    raise ShapeError(f"{who}: a 3-D attn_mask must have shape (N*num_heads, L, S) = {expected}, "
                                     f"got {array.shape}")
                array = array.reshape(batch, heads, length, source)
            else:
                raise ShapeError(f"{who}: attn_mask must be 2-D (L, S) or 3-D (N*num_heads, L, S), got shape "
                                 f"{array.shape}")
            mask = _additive(array, dtype, masked_out_is_true=True)
        if key_padding_mask is not None:
            array = _mask_array(who, "key_padding_mask", key_padding_mask)
            expected = (batch, source) if batched else (source,)
            if array.shape != expected:
                raise ShapeError(f"{who}: key_padding_mask must have shape {'(N, S)' if batched else '(S,)'} = "
                                 f"{expected}, got {array.shape}")
            padding = _additive(array.reshape(batch, 1, 1, source), dtype, masked_out_is_true=True)
            mask = padding if mask is None else mask + padding
        extra = (self.bias_k is not None) + self.add_zero_attn
        if mask is not None and extra:
            # The appended key rows (bias_k, zero attention) are never masked out.
            mask = np.concatenate([mask, np.zeros(mask.shape[:-1] + (extra,), dtype=mask.dtype)], axis=-1)
        return mask

    # -- forward ----------------------------------------------------------------

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """(output, attention weights or ``None``); see the class docstring for shapes and masks."""
        batched, batch, length, source = self._check_inputs(query, key, value)
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask; "
                             "give that mask as attn_mask too")
        mask = self._merged_mask(attn_mask, key_padding_mask, batched, batch, length, source, query.dtype)
        if is_causal and key_padding_mask is None and not need_weights:
            # As PyTorch: the hint replaces the mask by the causal one.
            causal = np.tril(np.ones((length, source), dtype=bool))
            mask = _additive(causal, query.dtype, masked_out_is_true=False)
            extra = (self.bias_k is not None) + self.add_zero_attn
            if extra:
                mask = np.concatenate([mask, np.zeros((length, extra), dtype=mask.dtype)], axis=-1)

        dropout_p = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.head_dim)
        self_attention = query is key and key is value
        if (self_attention and self._qkv_same_embed_dim and not need_weights and self.bias_k is None
                and not self.add_zero_attn):
            return self._packed_self_attention(query, batched, batch, length, mask, dropout_p, scale), None

        # Everything below works batch-first: (N, L, E).
        if not batched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
        elif not self.batch_first:
            query_t = query.transpose(0, 1)
            key_t = query_t if key is query else key.transpose(0, 1)
            value_t = key_t if value is key else value.transpose(0, 1)
            query, key, value = query_t, key_t, value_t
        q, k, v = self._project(query, key, value, self_attention, batch)

        weights = None
        if need_weights:
            # The composite, as PyTorch computes it when the weights are asked for.
            scores = (q * scale) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores + _wrap(mask)
            weights = scores.softmax(-1)
            if dropout_p > 0.0:
                weights = F.dropout(weights, dropout_p)
            heads_out = weights @ v
            if average_attn_weights:
                weights = weights.mean(1)
            if not batched:
                weights = weights.squeeze(0)
        else:
            heads_out = _attend(q, k, v, mask, dropout_p, scale)
        # One row per (position, batch) pair for the output projection (a 2-D matmul is faster than a batched
        # one), in PyTorch's order: its output is laid out (L, N, E) and returned batch-first as a transposed
        # view, which decides the order in which a dropout after it draws its mask.
        out = heads_out.permute(2, 0, 1, 3).reshape(length * batch, self.embed_dim)
        out = self.out_proj(out).reshape(length, batch, self.embed_dim)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _packed_self_attention(self, x: Tensor, batched: bool, batch: int, length: int, mask: np.ndarray | None,
                               dropout_p: float, scale: float) -> Tensor:
        """Self-attention without weights: one linear, one `ops.PackedSelfAttention`, one linear, on rows.

        The input's rows (one per position, in whatever order the layout has)
        go through the input projection as one 2-D matmul; the attention node
        splits and merges the heads by views, so no reshape or permute nodes.
        """
        heads = self.num_heads
        rows = x.reshape(batch * length, self.embed_dim) if batched else x
        qkv = F.linear(rows, self.in_proj_weight, self.in_proj_bias)
        keep = None
        if dropout_p > 0.0:
            shape = (batch, heads, length, length)
            keep = _dropout_keep(shape if mask is None else np.broadcast_shapes(shape, mask.shape), dropout_p,
                                 x.dtype)
        out = _apply(ops.PackedSelfAttention, qkv, batch=batch, heads=heads,
                     batch_first=self.batch_first or not batched, scale=scale, mask=mask, keep=keep)
        out = self.out_proj(out)  # rows ordered (position, batch), as PyTorch's output is laid out
        if not batched:
            return out
        return out.reshape(length, batch, self.embed_dim).transpose(0, 1) if self.batch_first else out.reshape(x.shape)

    def _project(self, query: Tensor, key: Tensor, value: Tensor, self_attention: bool,
                 batch: int) -> tuple[Tensor, Tensor, Tensor]:
        """Q W^Q, K W^K, V W^V (+ biases, bias_k/bias_v, zero rows), split into heads: (N, h, length, d)."""
        E, heads, d = self.embed_dim, self.num_heads, self.head_dim  # noqa: N806 - the math's symbols
        b = self.in_proj_bias
        extra = self.bias_k is not None
        if self._qkv_same_embed_dim and self_attention and not extra:
            # Self-attention: one matmul for all three projections and all heads.
            length = query.shape[1]
            qkv = F.linear(query, self.in_proj_weight, b).reshape(batch, length, 3, heads, d)
            qkv = qkv.permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            if self._qkv_same_embed_dim:
                w = self.in_proj_weight
                w_q, w_k, w_v = w[:E], w[E:2 * E], w[2 * E:]
            else:
                w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
            b_q, b_k, b_v = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
            if extra:
                k = cat([k, self.bias_k.expand(batch, 1, E)], dim=1)
                v = cat([v, self.bias_v.expand(batch, 1, E)], dim=1)
            q, k, v = (t.reshape(batch, t.shape[1], heads, d).permute(0, 2, 1, 3) for t in (q, k, v))
        if self.add_zero_attn:
            zeros = _wrap(np.zeros((batch, heads, 1, d), dtype=k.dtype))
            k, v = cat([k, zeros], dim=2), cat([v, zeros], dim=2)
        return q, k, v

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
