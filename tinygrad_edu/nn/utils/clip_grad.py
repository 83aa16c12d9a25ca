"""Gradient clipping, as ``torch.nn.utils.clip_grad``: the sources' remedy for exploding gradients."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..._checks import check_number
from ...tensor import Tensor, _wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.numpy() for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = || (||g_1||, ..., ||g_k||) ||_p, the p-norm of all gradients as one vector;
    every g_i is multiplied in place by min(1, max_norm / (total + 1e-6)).

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        max_norm: the largest allowed norm.
        norm_type: p of the p-norm (``float('inf')`` for the largest absolute value).
        error_if_nonfinite: raise if the total norm is nan or inf.

    Returns:
        The total norm *before* clipping, as a 0-d Tensor (log it to watch for explosions).
    """
    check_number("clip_grad_norm_", "max_norm", max_norm, low=0, finite=False)
    norm_type = check_number("clip_grad_norm_", "norm_type", norm_type, low=0, low_inclusive=False, finite=False)
    grads = _grads(parameters)
    if not grads:
        return _wrap(np.asarray(0.0, dtype=np.float32))
    dtype = grads[0].dtype
    if math.isinf(norm_type):
        norms = [np.abs(g).max() if g.size else 0.0 for g in grads]
        total = np.max(norms)
    else:
        norms = [np.sum(np.abs(g) ** norm_type) ** (1.0 / norm_type) for g in grads]
        total = np.sum(np.asarray(norms) ** norm_type) ** (1.0 / norm_type)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} is {float(total)}, so gradients cannot "
            f"be clipped; pass error_if_nonfinite=False to clip anyway"
        )
    coef = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    for g in grads:
        g *= np.asarray(coef, dtype=g.dtype)
    return _wrap(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient element to [-clip_value, clip_value], in place."""
    check_number("clip_grad_value_", "clip_value", clip_value, low=0, finite=False)
    for g in _grads(parameters):
        np.clip(g, -clip_value, clip_value, out=g)
