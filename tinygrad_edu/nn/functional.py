"""Layers and losses as plain functions, as ``torch.nn.functional``.

Everything here is composed from tensor operations, so autograd differentiates
it with no rule of its own; the docstrings give the formula.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import ops
from .. import rng as _rng
from .._checks import check_choice, check_probability
from ..functions import pad  # noqa: F401 - re-exported, as torch.nn.functional has it
from ..tensor import ShapeError, Tensor, _apply, _as_tensor, _wrap, where
from .activation import elu, gelu, gumbel_softmax, silu, softplus  # noqa: F401 - re-exported
from .attention import scaled_dot_product_attention  # noqa: F401 - re-exported, as torch.nn.functional has it
from .conv import conv1d, conv2d  # noqa: F401 - re-exported, as torch.nn.functional has them
from .loss_functions import binary_cross_entropy, huber_loss, kl_div, smooth_l1_loss  # noqa: F401 - re-exported
from .normalization import batch_norm, group_norm, layer_norm, rms_norm  # noqa: F401 - re-exported
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401 - re-exported
from .sparse import embedding, one_hot  # noqa: F401 - re-exported

__all__ = [
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax",
    "dropout", "mse_loss", "l1_loss", "nll_loss", "cross_entropy",
    "binary_cross_entropy_with_logits",
    "gelu", "silu", "elu", "gumbel_softmax", "binary_cross_entropy", "huber_loss", "smooth_l1_loss", "kl_div",
    "batch_norm", "layer_norm", "group_norm", "rms_norm", "embedding", "one_hot",
    "scaled_dot_product_attention",
]

_REDUCTIONS = ("mean", "sum", "none")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch.

    One graph node (`tinygrad_edu.ops.Linear`); the result equals
    ``input @ weight.T + bias``, the composite it stands for.
    """
    tensors = (input, weight) if bias is None else (input, weight, bias)
    if all(isinstance(t, Tensor) for t in tensors) and len({t.dtype for t in tensors}) == 1 \
            and input.ndim >= 1 and weight.ndim == 2 and input.shape[-1] == weight.shape[1] \
            and (bias is None or bias.shape == (weight.shape[0],)):
        return _apply(ops.Linear, *tensors)
    out = input @ weight.T  # mixed dtypes or unusual shapes: the composite handles them (and their errors)
    return out + bias if bias is not None else out


def relu(input: Tensor) -> Tensor:  # noqa: A002
    """max(x, 0)."""
    return input.relu()


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """x for x > 0, else negative_slope * x (the slope is also the gradient at 0, as in PyTorch)."""
    return where(input > 0, input, input * negative_slope)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + exp(-x))."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """tanh(x)."""
    return input.tanh()


def softmax(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """exp(x_i) / sum_j exp(x_j) along ``dim``."""
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int) -> Tensor:  # noqa: A002
    """x_i - log(sum_j exp(x_j)) along ``dim``."""
    return input.log_softmax(dim)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only).

    The scaling keeps the expected value of every element unchanged, so
    nothing needs rescaling at evaluation time, when dropout does nothing.
    The mask is PyTorch's CPU one for the same seed: ``bernoulli_(1 - p)``
    (one float64 uniform u per element, kept when u < 1 - p), divided by
    1 - p in the input's dtype and multiplied in. (On Intel CPUs PyTorch's
    MKL builds draw the mask with MKL's generator instead; see `tinygrad_edu.rng`.)
    """
    check_probability("dropout", "p", p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    dtype = input.dtype if input.dtype.kind == "f" else np.dtype(np.float32)
    keep = _rng.bernoulli(_rng.generator(), input.shape, 1.0 - p)
    order = input._memory_order()
    if order is not None:
        # PyTorch's mask is empty_like(input), which keeps a view's strides, so it is filled in the
        # order the input's elements lie in memory (a transposed input: column by column).
        in_memory_order = np.empty(keep.size, dtype=keep.dtype)
        in_memory_order[order] = keep.reshape(-1)
        keep = in_memory_order.reshape(input.shape)
    mask = keep.astype(dtype) / np.asarray(1.0 - p, dtype=dtype)
    return input * _wrap(mask)


def _check_reduction(reduction: str) -> None:
    check_choice("loss", "reduction", reduction, _REDUCTIONS)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ShapeError(f"{name}: input shape {input.shape} and target shape {target.shape} "
                             f"cannot be broadcast together") from None
        warnings.warn(
            f"{name}: target shape {target.shape} differs from input shape {input.shape}; they will be "
            f"broadcast, which is rarely intended (reshape the target to {input.shape})",
            UserWarning, stacklevel=3,
        )


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error: mean((input - target)^2) (or its sum, or per element)."""
    _check_reduction(reduction)
    target = _as_tensor(target)
    _check_same_shape("mse_loss", input, target)
    return _reduce((input - target) ** 2, reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean absolute error: mean(|input - target|)."""
    _check_reduction(reduction)
    target = _as_tensor(target)
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def _classes_last(input: Tensor, target: Tensor) -> tuple[Tensor, np.ndarray, tuple]:
    """Arrange (N, C, d1, ...) scores as (M, C) rows and targets as (M,); also give the target shape."""
    if input.ndim == 1:
        return input.reshape(1, -1), target.numpy().reshape(1), ()
    if input.ndim == 2:
        return input, target.numpy(), target.shape
    classes = input.shape[1]
    order = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(order).reshape(-1, classes), target.numpy().reshape(-1), target.shape


def nll_loss(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the target classes: -w[y_i] * input[i, y_i].

    ``input`` holds log-probabilities, shape (N, C) (or (C,), or (N, C, d1, ...));
    ``target`` holds class indices, shape (N,). With ``reduction='mean'`` the
    sum is divided by the total weight of the non-ignored targets.
    """
    _check_reduction(reduction)
    target = _as_tensor(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold integer class indices, got dtype {target.dtype}")
    expected = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if target.shape != expected:
        raise ShapeError(f"nll_loss: input of shape {input.shape} needs target of shape {expected}, "
                         f"got {target.shape}")
    rows, classes, out_shape = _classes_last(input, target)
    n_rows, n_classes = rows.shape
    valid = classes != ignore_index
    all_valid = bool(valid.all())
    kept = classes if all_valid else classes[valid]
    if kept.size and (kept.min() < 0 or kept.max() >= n_classes):
        bad = kept[(kept < 0) | (kept >= n_classes)][0]
        raise IndexError(f"target class index {int(bad)} is out of range for {n_classes} classes "
                         f"(expected 0 to {n_classes - 1}, or ignore_index={ignore_index})")
    safe = classes if all_valid else np.where(valid, classes, 0)
    if weight is None:
        weights = np.ones(n_rows) if all_valid else valid.astype(np.float64)
    else:
        weights = np.asarray(weight.numpy() if isinstance(weight, Tensor) else weight, dtype=np.float64)[safe] * valid
    total = float(weights.sum()) if reduction == "mean" else 1.0  # 0 (nothing counted): a nan mean, as PyTorch
    losses = _apply(ops.NLLLoss, rows, classes=safe, weights=weights, reduction=reduction, total=total,
                    valid=None if all_valid else valid)
    return losses.reshape(out_shape) if reduction == "none" else losses


def cross_entropy(input: Tensor, target: Any, weight: Tensor | None = None, ignore_index: int = -100,  # noqa: A002
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits against class indices (or class probabilities).

    For logits x of shape (N, C) and class indices y of shape (N,):
    loss_i = -log softmax(x_i)[y_i] = logsumexp(x_i) - x_i[y_i], computed with
    a fused log-softmax so any logit size stays finite. ``target`` may also
    hold probabilities of the same shape as ``input``. ``weight``,
    ``ignore_index`` and ``label_smoothing`` follow PyTorch exactly.
    """
    _check_reduction(reduction)
    check_probability("cross_entropy", "label_smoothing", label_smoothing)
    target = _as_tensor(target)
    class_dim = 0 if input.ndim == 1 else 1
    logp = input.log_softmax(class_dim)
    n_classes = input.shape[class_dim]
    w = None
    if weight is not None:
        w = _as_tensor(weight)
        if w.shape != (n_classes,):
            raise ShapeError(f"cross_entropy: weight must have shape ({n_classes},), got {w.shape}")
        w = w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1))

    if target.dtype.kind == "f":  # class probabilities
        if target.shape != input.shape:
            raise ShapeError(f"cross_entropy: probability targets must have the input's shape {input.shape}, "
                             f"got {target.shape}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        terms = logp * target if w is None else logp * target * w
        losses = -terms.sum(class_dim)
        if reduction == "mean":
            count = losses.numel()
            return losses.sum() * (1.0 / count if count else np.nan)
        return _reduce(losses, reduction)

    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    ignored = _wrap(target.numpy() == ignore_index)
    smooth = -(logp * w).sum(class_dim) if w is not None else -logp.sum(class_dim)
    smooth = where(ignored, 0.0, smooth)
    if reduction == "mean":
        if weight is not None:
            kept = target.numpy()[target.numpy() != ignore_index]
            denominator = float(w.numpy().reshape(-1)[kept].sum())
        else:
            denominator = float((~ignored.numpy()).sum())
        smooth = smooth.sum() * (1.0 / denominator if denominator else np.nan)
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Tensor | None = None,  # noqa: A002
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of logits x against targets y in [0, 1], computed stably.

    loss = -[p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]
         = (1 - y) x + (1 + (p - 1) y) softplus(-x),
    with p = ``pos_weight`` (1 if omitted); softplus never overflows.
    """
    _check_reduction(reduction)
    target = _as_tensor(target)
    if target.shape != input.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: target shape {target.shape} must equal "
                         f"input shape {input.shape}")
    softplus_neg = _apply(ops.Softplus, -input)
    if pos_weight is not None:
        log_weight = (_as_tensor(pos_weight) - 1) * target + 1
        loss = (1 - target) * input + log_weight * softplus_neg
    else:
        loss = (1 - target) * input + softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
