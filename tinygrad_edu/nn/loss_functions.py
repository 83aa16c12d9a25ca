"""The zoo's losses as functions, as ``torch.nn.functional``: ``binary_cross_entropy``, ``huber_loss``,
``smooth_l1_loss``, ``kl_div``.

Re-exported by `tinygrad_edu.nn.functional` (and wrapped as modules in
`tinygrad_edu.nn.loss`). Each pointwise loss is one node
(`tinygrad_edu.ops.loss`), then reduced by ``mean`` or ``sum``.
"""

from __future__ import annotations

import warnings
from typing import Any

from .. import ops
from .._checks import check_choice, check_non_negative
from ..tensor import ShapeError, Tensor, _apply, _as_tensor

__all__ = ["binary_cross_entropy", "huber_loss", "smooth_l1_loss", "kl_div"]


def _reduced(who: str, loss: Tensor, reduction: str) -> Tensor:
    check_choice(who, "reduction", reduction, ("mean", "sum", "none"))
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _no_legacy_reduction(who: str, size_average: Any, reduce: Any) -> None:
    """PyTorch's deprecated ``size_average``/``reduce`` are refused (``reduction`` says the same, clearly)."""
    if size_average is not None or reduce is not None:
        raise ValueError(f"{who}: size_average and reduce are deprecated and not supported; use reduction= "
                         f"('mean', 'sum' or 'none') instead")


def _operands(who: str, input: Tensor, target: Any) -> tuple[Tensor, Tensor]:  # noqa: A002
    """``input`` and ``target`` as Tensors of one shape and dtype (the target cast to the input's dtype)."""
    target = _as_tensor(target)
    if target.shape != input.shape:
        raise ShapeError(f"{who}: target shape {target.shape} must equal input shape {input.shape}")
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    return input, target


def binary_cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None,  # noqa: A002
                         size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities p against targets y in [0, 1], as PyTorch's.

    loss = -w (y log p + (1 - y) log(1 - p)), each log clamped at -100 as in
    PyTorch (so p = 0 or 1 gives 100, not inf). For logits use
    ``binary_cross_entropy_with_logits``, which is stabler. ``size_average``
    and ``reduce`` are PyTorch's deprecated arguments and must stay ``None``.

    Example:
        >>> import tinygrad_edu as tg
        >>> round(tg.nn.functional.binary_cross_entropy(tg.tensor([0.8, 0.4]), tg.tensor([1.0, 0.0])).item(), 4)
        0.367
    """
    _no_legacy_reduction("binary_cross_entropy", size_average, reduce)
    input, target = _operands("binary_cross_entropy", input, target)
    probabilities = input.numpy()
    if probabilities.size and (probabilities.min() < 0 or probabilities.max() > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1] (apply sigmoid first, or "
                         "use binary_cross_entropy_with_logits)")
    loss = _apply(ops.BinaryCrossEntropy, input, target)
    if weight is not None:
        loss = loss * weight
    return _reduced("binary_cross_entropy", loss, reduction)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0,  # noqa: A002
               weight: Tensor | None = None) -> Tensor:
    """Huber loss, as ``torch.nn.functional.huber_loss``: quadratic near 0, linear beyond ``delta``.

    With d = input - target: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta).
    Its gradient is d clipped to [-delta, delta], so outliers pull no harder than delta.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.huber_loss(tg.tensor([0.5, 3.0]), tg.tensor([0.0, 0.0]), reduction='none').tolist()
        [0.125, 2.5]
    """
    delta = check_non_negative("huber_loss", "delta", delta)
    if delta == 0:
        raise ValueError("huber_loss: delta must be a finite number > 0, got 0")
    input, target = _operands("huber_loss", input, target)
    loss = _apply(ops.Huber, input, target, delta=delta)
    if weight is not None:
        loss = loss * weight
    return _reduced("huber_loss", loss, reduction)


def smooth_l1_loss(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 loss, as ``torch.nn.functional.smooth_l1_loss``: the Huber loss divided by ``beta``.

    With d = input - target: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta;
    ``beta=0`` is the L1 loss |d|. ``size_average`` and ``reduce`` are
    PyTorch's deprecated arguments and must stay ``None``.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.smooth_l1_loss(tg.tensor([0.5, 3.0]), tg.tensor([0.0, 0.0]), reduction='none').tolist()
        [0.125, 2.5]
    """
    _no_legacy_reduction("smooth_l1_loss", size_average, reduce)
    beta = check_non_negative("smooth_l1_loss", "beta", beta)
    input, target = _operands("smooth_l1_loss", input, target)
    if beta == 0:
        return _reduced("smooth_l1_loss", (input - target).abs(), reduction)
    return _reduced("smooth_l1_loss", _apply(ops.Huber, input, target, delta=beta, scale=1.0 / beta), reduction)


def kl_div(input: Tensor, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence KL(target || model), as ``torch.nn.functional.kl_div``.

    ``input`` holds the model's log-probabilities log q, ``target`` the
    target's probabilities p (log p with ``log_target=True``); pointwise
    loss = p (log p - log q), 0 where p = 0. ``reduction='batchmean'`` divides
    the sum by the batch size input.shape[0] and is the true KL divergence;
    ``'mean'`` divides by the number of elements (PyTorch warns about it, and
    so does this). ``size_average`` and ``reduce`` are PyTorch's deprecated
    arguments and must stay ``None``.

    Example:
        >>> import tinygrad_edu as tg
        >>> p = tg.tensor([[0.5, 0.5]])
        >>> round(tg.nn.functional.kl_div(tg.tensor([[0.9, 0.1]]).log(), p, reduction='batchmean').item(), 4)
        0.5108
    """
    _no_legacy_reduction("kl_div", size_average, reduce)
    check_choice("kl_div", "reduction", reduction, ("mean", "batchmean", "sum", "none"))
    input, target = _operands("kl_div", input, target)
    loss = _apply(ops.KLDiv, input, target, log_target=bool(log_target))
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides by the number of elements, not the batch size, and is "
                      "not the KL divergence; use reduction='batchmean'", UserWarning, stacklevel=2)
    return _reduced("kl_div", loss, reduction)
