"""Loss modules: each a thin `Module` around the function in `nn.functional`."""

from __future__ import annotations

from typing import Any

from .._checks import check_choice, check_non_negative, check_positive, check_probability
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "HuberLoss",
           "SmoothL1Loss", "KLDivLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        F._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class MSELoss(_Loss):
    """Mean squared error, mean((input - target)^2): the loss for regression.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.MSELoss()(tg.tensor([1.0, 3.0]), tg.tensor([0.0, 1.0])).item()
        2.5
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error, mean(|input - target|)."""

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits (N, C) against integer class indices (N,): the loss for classification.

    loss_i = logsumexp(x_i) - x_i[y_i], stable for logits of any size. Takes
    PyTorch's ``weight``, ``ignore_index`` and ``label_smoothing`` too.
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        check_probability("CrossEntropyLoss", "label_smoothing", label_smoothing)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (use after LogSoftmax)."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits against targets in [0, 1], stable for any logit."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p (after a sigmoid) against targets y in [0, 1].

    loss = -w (y log p + (1 - y) log(1 - p)), each log clamped at -100 as in
    PyTorch. `BCEWithLogitsLoss` takes the logits instead and is stabler.

    Args:
        weight: a rescaling weight broadcast against the loss, or ``None``.
        size_average, reduce: PyTorch's deprecated arguments; must stay ``None``.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Example:
        >>> import tinygrad_edu as tg
        >>> round(tg.nn.BCELoss()(tg.tensor([0.8, 0.4]), tg.tensor([1.0, 0.0])).item(), 4)
        0.367
    """

    def __init__(self, weight: Tensor | None = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:
        super().__init__(reduction)
        if size_average is not None or reduce is not None:
            raise ValueError("BCELoss: size_average and reduce are deprecated; use reduction= instead")
        self.weight = weight

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class HuberLoss(_Loss):
    """The Huber loss: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target.

    Quadratic near zero and linear beyond ``delta``, so an outlier's gradient
    is at most ``delta``: regression that is robust to outliers.

    Args:
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        delta: where the quadratic part turns linear (> 0).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.HuberLoss(delta=1.0)(tg.tensor([0.5, 3.0]), tg.tensor([0.0, 0.0])).item()
        1.3125
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = check_positive("HuberLoss", "delta", delta)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (the Huber loss / beta).

    Args:
        size_average, reduce: PyTorch's deprecated arguments; must stay ``None``.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        beta: where the quadratic part turns linear (>= 0; 0 is the L1 loss).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.SmoothL1Loss(beta=1.0)(tg.tensor([0.5, 3.0]), tg.tensor([0.0, 0.0])).item()
        1.3125
    """

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(reduction)
        if size_average is not None or reduce is not None:
            raise ValueError("SmoothL1Loss: size_average and reduce are deprecated; use reduction= instead")
        self.beta = check_non_negative("SmoothL1Loss", "beta", beta)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class KLDivLoss(Module):
    """Kullback-Leibler divergence KL(p || q) = sum p (log p - log q), the model giving log q.

    ``input`` holds log-probabilities log q (e.g. from ``log_softmax``),
    ``target`` probabilities p (or log p with ``log_target=True``); pointwise
    loss p (log p - log q), 0 where p = 0. ``reduction='batchmean'`` (sum over
    everything divided by the batch size) is the true KL divergence; the
    default ``'mean'`` divides by the number of elements, as in PyTorch.

    Args:
        size_average, reduce: PyTorch's deprecated arguments; must stay ``None``.
        reduction: ``'mean'``, ``'batchmean'``, ``'sum'`` or ``'none'``.
        log_target: ``target`` holds log-probabilities.

    Example:
        >>> import tinygrad_edu as tg
        >>> loss = tg.nn.KLDivLoss(reduction='batchmean')
        >>> round(loss(tg.tensor([[0.9, 0.1]]).log(), tg.tensor([[0.5, 0.5]])).item(), 4)
        0.5108
    """

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("KLDivLoss: size_average and reduce are deprecated; use reduction= instead")
        self.reduction = check_choice("KLDivLoss", "reduction", reduction, ("mean", "batchmean", "sum", "none"))
        self.log_target = bool(log_target)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"
