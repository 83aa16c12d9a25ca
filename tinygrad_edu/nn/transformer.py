"""The Transformer encoder: `TransformerEncoderLayer` and `TransformerEncoder`, as in PyTorch.

One encoder layer is self-attention followed by a position-wise feed-forward
network, each wrapped in a residual connection and a layer normalisation
(Vaswani et al., 2017). Where the normalisation sits is the one design choice:

    Post-LN (norm_first=False, the original):  x = norm1(x + SA(x));  x = norm2(x + FF(x))
    Pre-LN  (norm_first=True, GPT-2 onwards):  x = x + SA(norm1(x));  x = x + FF(norm2(x))

Pre-LN keeps an unnormalised path straight through every layer, so deep stacks
train without the learning-rate warmup Post-LN needs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .._checks import check_int, check_positive, check_probability
from ..tensor import ShapeError, Tensor
from . import functional as F
from .activation import gelu
from .attention import MultiheadAttention
from .layers import Dropout, Linear, ModuleList
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder"]

_ACTIVATIONS = {"relu": F.relu, "gelu": gelu}


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network with residuals and LayerNorm, exactly ``torch.nn``'s.

    With SA = multi-head self-attention and FF(x) = linear2(dropout(act(linear1(x)))):

        norm_first=False:  x = norm1(x + dropout1(SA(x)));  x = norm2(x + dropout2(FF(x)))
        norm_first=True:   x = x + dropout1(SA(norm1(x)));  x = x + dropout2(FF(norm2(x)))

    Args:
        d_model: the model's width E.
        nhead: attention heads (must divide ``d_model``).
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: dropout probability (attention weights and the three dropouts).
        activation: ``"relu"``, ``"gelu"`` or a callable (a function or module).
        layer_norm_eps: ``eps`` of both LayerNorms.
        batch_first: inputs and output are (N, S, E) instead of (S, N, E).
        norm_first: Pre-LN when True, Post-LN (the default) when False.
        bias: learn the biases of the linear layers and the LayerNorms.
        device, dtype: as in PyTorch (the CPU only).

    Submodules (PyTorch's names, so ``state_dict`` keys match): ``self_attn``
    (`MultiheadAttention`), ``linear1`` (E -> dim_feedforward), ``dropout``,
    ``linear2`` (dim_feedforward -> E), ``norm1``, ``norm2``, ``dropout1``,
    ``dropout2``.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``:
    ``src_mask`` (S, S) or (N*nhead, S, S) and ``src_key_padding_mask`` (N, S)
    with `MultiheadAttention`'s conventions (bool True = masked out, float added).

    Example:
        >>> import tinygrad_edu as tg
        >>> layer = tg.nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, batch_first=True)
        >>> layer(tg.randn(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable[[Tensor], Tensor] = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        who = "TransformerEncoderLayer"
        check_int(who, "d_model", d_model, minimum=1)
        check_int(who, "nhead", nhead, minimum=1)
        check_int(who, "dim_feedforward", dim_feedforward, minimum=1)
        check_probability(who, "dropout", dropout)
        check_positive(who, "layer_norm_eps", layer_norm_eps)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(f"{who}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
            activation = _ACTIVATIONS[activation]
        elif not callable(activation):
            raise TypeError(f"{who}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
        if d_model % nhead:
            raise ValueError(f"{who}: d_model must be divisible by nhead, got d_model={d_model} and nhead={nhead}")
        self.d_model = d_model
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            device=device, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """One encoder layer on ``src`` ((S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E))."""
        if not isinstance(src, Tensor) or src.ndim not in (2, 3) or src.shape[-1] != self.d_model:
            layout = "(N, S, E)" if self.self_attn.batch_first else "(S, N, E)"
            shape = src.shape if isinstance(src, Tensor) else type(src).__name__
            raise ShapeError(f"TransformerEncoderLayer: src must have shape {layout} or (S, E) with E = d_model = "
                             f"{self.d_model}, got {shape}")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                             is_causal=is_causal)[0]
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        # Position-wise: one row per position (a 2-D matmul is faster than a batched one).
        rows = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
        out = self.linear2(self.dropout(self.activation(self.linear1(rows))))
        return self.dropout2(out.reshape(x.shape) if x.ndim != 2 else out)


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of an encoder layer, then an optional norm, as ``torch.nn``'s.

    Args:
        encoder_layer: the layer to copy (each copy gets its own parameters,
            starting equal to the original's, as PyTorch's deep copies do).
        num_layers: how many layers.
        norm: a module applied to the last layer's output (``None``: none).
        enable_nested_tensor, mask_check: accepted for PyTorch's signature;
            they only select PyTorch's inference fast path.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``
    runs every layer with the same masks. State-dict keys are
    ``layers.0.self_attn.in_proj_weight``, ... as in PyTorch.

    Example:
        >>> import tinygrad_edu as tg
        >>> layer = tg.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
        >>> encoder = tg.nn.TransformerEncoder(layer, num_layers=2)
        >>> encoder(tg.randn(3, 4, 8)).shape
        (3, 4, 8)
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        check_int("TransformerEncoder", "num_layers", num_layers, minimum=1)
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got {type(encoder_layer).__name__}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool | None = None) -> Tensor:
        """Every layer in turn, then ``norm``."""
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x
