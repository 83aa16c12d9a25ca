"""Normalisation layers, as ``torch.nn``: `BatchNorm1d`, `BatchNorm2d`, `LayerNorm`, `GroupNorm`, `RMSNorm`.

Each standardises its input over some axes, x_hat = (x - mean) / sqrt(var + eps),
then scales and shifts it with learned per-feature ``weight`` and ``bias``.
Each runs as one fused node (`tinygrad_edu.ops.norm`) holding the closed-form
gradient. The functional forms (``batch_norm``, ``layer_norm``, ``group_norm``,
``rms_norm``) are here too and re-exported by `tinygrad_edu.nn.functional`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import ops
from .._checks import check_int, check_number, check_positive
from ..autograd import bump_version
from ..device import check_device
from ..dtypes import get_default_dtype
from ..tensor import ShapeError, Tensor, _apply, _wrap
from .module import Module, Parameter

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "RMSNorm",
    "batch_norm", "layer_norm", "group_norm", "rms_norm",
]


def _affine_tensors(input: Tensor, weight: Tensor | None, bias: Tensor | None) -> tuple[Tensor, ...]:  # noqa: A002
    """The node's inputs: ``input``, then the weight and bias present (a bias alone gets a constant weight of 1)."""
    if weight is None:
        return (input,) if bias is None else (input, _wrap(np.ones(bias.shape, dtype=bias.dtype)), bias)
    return (input, weight) if bias is None else (input, weight, bias)


# ---------------------------------------------------------------------------
# Functional forms
# ---------------------------------------------------------------------------


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every axis but the channel axis 1, as ``torch.nn.functional.batch_norm``.

    y = (x - mean) / sqrt(var + eps) * weight + bias, per channel. With
    ``training=True`` mean and var are the batch's (var biased, divided by n,
    the values per channel), and the running estimates, when given, are
    updated in place: running = (1 - momentum) * running + momentum * batch
    (the running variance takes the unbiased batch variance, n / (n - 1) var).
    With ``training=False`` the running estimates normalise.

    Args:
        input: (N, C) or (N, C, *).
        running_mean, running_var: (C,) buffers, or ``None`` (then ``training`` must be True).
        weight, bias: (C,) scale and shift, or ``None``.
        training: use (and update with) the batch's statistics.
        momentum: the running estimates' update factor.
        eps: added to the variance for stability.

    Example:
        >>> import tinygrad_edu as tg
        >>> x = tg.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> y = tg.nn.functional.batch_norm(x, None, None, training=True)
        >>> [[round(v, 4) for v in row] for row in y.tolist()]
        [[-1.0, -1.0], [1.0, 1.0]]
    """
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C) or (N, C, *), got {input.shape}")
    channels = input.shape[1]
    for name, tensor in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                         ("bias", bias)):
        if tensor is not None and tensor.shape != (channels,):
            raise ShapeError(f"batch_norm: input of shape {input.shape} has {channels} channels (axis 1), "
                             f"so {name} must have shape ({channels},), got {tensor.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
    if training and input.numel() // max(channels, 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                         f"shape {input.shape}")
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
                weight: Tensor | None, bias: Tensor | None, training: bool, momentum: float, eps: float) -> Tensor:
    """`batch_norm` once its arguments are known to be valid (the layers check their own)."""
    tensors = _affine_tensors(input, weight, bias)
    if not training:
        return _apply(ops.BatchNorm, *tensors, eps=eps, training=False, mean=running_mean.numpy(),
                      var=running_var.numpy())
    stats: dict = {}  # the node computes the batch's mean and (biased) variance and hands them back here
    out = _apply(ops.BatchNorm, *tensors, eps=eps, training=True, stats=stats)
    if running_mean is not None:
        _update_running(running_mean, stats["mean"], momentum)
    if running_var is not None:
        count = input.numel() // input.shape[1]
        _update_running(running_var, stats["var"] * (count / (count - 1)), momentum)  # the unbiased variance
    return out


def _update_running(buffer: Tensor, batch_value: np.ndarray, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * batch_value, in place (a buffer, never in a graph)."""
    values = buffer.numpy()
    values *= 1 - momentum
    values += momentum * batch_value
    bump_version(buffer)


def _normalized_shape(who: str, normalized_shape: Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(normalized_shape)
    except TypeError:
        raise TypeError(f"{who}: normalized_shape must be an int or a tuple of ints, "
                        f"got {normalized_shape!r}") from None
    for size in shape:
        check_int(who, "normalized_shape", size, minimum=1)
    return tuple(int(size) for size in shape)


def _check_trailing(who: str, input: Tensor, shape: tuple[int, ...], weight: Tensor | None,  # noqa: A002
                    bias: Tensor | None = None) -> None:
    expected = "(*, " + ", ".join(str(s) for s in shape) + ")"
    if input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        raise ShapeError(f"{who}: normalized_shape {shape} needs input of shape {expected}, got {input.shape}")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.shape != shape:
            raise ShapeError(f"{who}: {name} must have the normalized_shape {shape}, got {tensor.shape}")


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes, as ``torch.nn.functional.layer_norm``.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and (biased)
    var taken over the last ``len(normalized_shape)`` axes of each sample.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.functional.layer_norm(tg.tensor([[1.0, 3.0]]), (2,))[0].tolist()]
        [-1.0, 1.0]
    """
    shape = _normalized_shape("layer_norm", normalized_shape)
    _check_trailing("layer_norm", input, shape, weight, bias)
    return _apply(ops.LayerNorm, *_affine_tensors(input, weight, bias), n_axes=len(shape), eps=eps)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Group normalisation, as ``torch.nn.functional.group_norm``.

    The C channels of x (N, C, *) are split into ``num_groups`` groups of
    C / num_groups; each sample's group is standardised over its channels
    and positions, then weight and bias (C,) scale and shift per channel.

    Example:
        >>> import tinygrad_edu as tg
        >>> y = tg.nn.functional.group_norm(tg.tensor([[1.0, 3.0, 5.0, 9.0]]), 2)
        >>> [round(v, 4) for v in y[0].tolist()]
        [-1.0, 1.0, -1.0, 1.0]
    """
    num_groups = check_int("group_norm", "num_groups", num_groups, minimum=1)
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected input of shape (N, C, *), got {input.shape}")
    channels = input.shape[1]
    if channels % num_groups:
        raise ShapeError(f"group_norm: input of shape {input.shape} has {channels} channels, which num_groups="
                         f"{num_groups} does not divide (expected channels a multiple of {num_groups})")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None and tensor.shape != (channels,):
            raise ShapeError(f"group_norm: {name} must have shape ({channels},), got {tensor.shape}")
    return _apply(ops.GroupNorm, *_affine_tensors(input, weight, bias), groups=num_groups, eps=eps)


def rms_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,  # noqa: A002
             eps: float | None = None) -> Tensor:
    """Root-mean-square normalisation, as ``torch.nn.functional.rms_norm``.

    y = x / sqrt(mean(x^2) + eps) * weight over the trailing ``normalized_shape``
    axes; ``eps=None`` takes the machine epsilon of the input's dtype.

    Example:
        >>> import tinygrad_edu as tg
        >>> [round(v, 4) for v in tg.nn.functional.rms_norm(tg.tensor([3.0, 4.0]), (2,)).tolist()]
        [0.8485, 1.1314]
    """
    shape = _normalized_shape("rms_norm", normalized_shape)
    _check_trailing("rms_norm", input, shape, weight)
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    tensors = (input,) if weight is None else (input, weight)
    return _apply(ops.RMSNorm, *tensors, n_axes=len(shape), eps=eps)


# ---------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------


def _float_dtype(dtype: Any) -> Any:
    return dtype or get_default_dtype()


def _affine_parameters(module: Module, shape: Any, affine: bool, bias: bool, dtype: Any) -> None:
    """A norm layer's learned scale ``weight`` (ones) and shift ``bias`` (zeros), or ``None`` as PyTorch has them."""
    dtype = _float_dtype(dtype)
    if affine:
        module.weight = Parameter(Tensor(np.ones(shape), dtype=dtype))
    else:
        module.register_parameter("weight", None)
    if affine and bias:
        module.bias = Parameter(Tensor(np.zeros(shape), dtype=dtype))
    else:
        module.register_parameter("bias", None)


class _BatchNorm(Module):
    """What `BatchNorm1d` and `BatchNorm2d` share; they differ only in the input shapes they accept."""

    _expected = ""  # e.g. "(N, C) or (N, C, L)"
    _dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        who = type(self).__name__
        check_device(device)
        self.num_features = check_int(who, "num_features", num_features, minimum=1)
        self.eps = check_positive(who, "eps", eps)
        self.momentum = None if momentum is None else check_number(who, "momentum", momentum, low=0, high=1)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.use_bias = bool(bias)
        _affine_parameters(self, num_features, self.affine, self.use_bias, dtype)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features), dtype=dtype))
            self.register_buffer("running_var", Tensor(np.ones(num_features), dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                buffer.numpy()[...] = value
                bump_version(buffer)

    def reset_parameters(self) -> None:
        """Running statistics reset; weight 1 and bias 0 (PyTorch's default)."""
        self.reset_running_stats()
        for parameter, value in ((self.weight, 1), (self.bias, 0)):
            if parameter is not None:
                parameter.numpy()[...] = value
                bump_version(parameter)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        who = type(self).__name__
        if input.ndim not in self._dims:
            raise ShapeError(f"{who}: expected input of shape {self._expected}, got {input.ndim}-D input of "
                             f"shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ShapeError(f"{who}({self.num_features}): expected {self.num_features} channels at axis 1, "
                             f"input {self._expected} with C = {self.num_features}, got shape {input.shape}")
        if self.training and input.numel() // self.num_features <= 1:
            raise ValueError(f"{who}: expected more than 1 value per channel when training, got input of shape "
                             f"{input.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            count = self.num_batches_tracked
            np.add(count.numpy(), 1, out=count.numpy())
            bump_version(count)
            if self.momentum is None:  # a cumulative moving average: every batch weighs the same
                factor = 1.0 / float(count.numpy())
        use_batch_stats = self.training or self.running_mean is None
        tracked = not self.training or self.track_running_stats
        return _batch_norm(input, self.running_mean if tracked else None, self.running_var if tracked else None,
                           self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C (Ioffe and Szegedy, 2015).

    y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta, with gamma = ``weight``
    (initialised to 1) and beta = ``bias`` (0). In training, E and Var are the
    batch's statistics over N (and L), Var biased; the buffers
    ``running_mean`` and ``running_var`` follow them as
    running = (1 - momentum) * running + momentum * batch (unbiased batch
    variance), or as their cumulative average with ``momentum=None``, and
    ``num_batches_tracked`` counts the batches. In evaluation (``model.eval()``)
    the running statistics normalise instead.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance for stability.
        momentum: the running statistics' update factor, or ``None`` for a cumulative average.
        affine: learn ``weight`` and ``bias``.
        track_running_stats: keep running statistics (else the batch's are used in eval too).
        bias: learn ``bias`` (when ``affine``; keyword-only, as in PyTorch).
        device: ``None`` or ``"cpu"``.
        dtype: the parameters' and running statistics' dtype (the default float dtype if omitted).

    Example:
        >>> import tinygrad_edu as tg
        >>> bn = tg.nn.BatchNorm1d(3)
        >>> y = bn(tg.randn(8, 3))
        >>> list(bn.state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    _expected = "(N, C) or (N, C, L)"
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C, over N, H and W.

    The same layer as `BatchNorm1d` (see there for the formula, arguments and
    running statistics), for images.

    Example:
        >>> import tinygrad_edu as tg
        >>> bn = tg.nn.BatchNorm2d(4)
        >>> bn(tg.randn(2, 4, 5, 5)).shape
        (2, 4, 5, 5)
    """

    _expected = "(N, C, H, W)"
    _dims = (4,)


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` axes of each sample (Ba et al., 2016).

    y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta, with E and (biased) Var
    over the last ``len(normalized_shape)`` axes; gamma = ``weight`` (1) and
    beta = ``bias`` (0) have the shape ``normalized_shape``. The same in
    training and evaluation.

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last axis).
        eps: added to the variance for stability.
        elementwise_affine: learn ``weight`` (and ``bias``).
        bias: learn ``bias`` (when ``elementwise_affine``).
        device: ``None`` or ``"cpu"``.
        dtype: the parameters' dtype (the default float dtype if omitted).

    Example:
        >>> import tinygrad_edu as tg
        >>> norm = tg.nn.LayerNorm(4)
        >>> y = norm(tg.randn(2, 3, 4))
        >>> [round(v, 4) + 0.0 for v in y.mean(-1).flatten().tolist()]
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_device(device)
        self.normalized_shape = _normalized_shape("LayerNorm", normalized_shape)
        self.eps = check_positive("LayerNorm", "eps", eps)
        self.elementwise_affine, self.use_bias = bool(elementwise_affine), bool(bias)
        _affine_parameters(self, self.normalized_shape, self.elementwise_affine, bias, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        _check_trailing(f"LayerNorm({self.normalized_shape})", input, self.normalized_shape, None)
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Group normalisation (Wu and He, 2018): each sample's channels in ``num_groups`` groups, each standardised.

    For x of shape (N, C, *), the C channels are split into ``num_groups``
    groups of C / num_groups; y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta
    with E and (biased) Var over each group's channels and positions, and
    gamma = ``weight`` (1), beta = ``bias`` (0) per channel. The same in
    training and evaluation.

    Args:
        num_groups: how many groups; must divide ``num_channels``.
        num_channels: C.
        eps: added to the variance for stability.
        affine: learn ``weight`` and ``bias``.
        device: ``None`` or ``"cpu"``.
        dtype: the parameters' dtype (the default float dtype if omitted).
        bias: learn ``bias`` (when ``affine``; keyword-only, as in PyTorch).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.GroupNorm(2, 4)(tg.randn(3, 4, 5)).shape
        (3, 4, 5)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        check_device(device)
        self.num_groups = check_int("GroupNorm", "num_groups", num_groups, minimum=1)
        self.num_channels = check_int("GroupNorm", "num_channels", num_channels, minimum=1)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups, got num_channels="
                             f"{num_channels} and num_groups={num_groups}")
        self.eps = check_positive("GroupNorm", "eps", eps)
        self.affine, self.use_bias = bool(affine), bool(bias)
        _affine_parameters(self, num_channels, self.affine, self.use_bias, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input of shape "
                             f"(N, {self.num_channels}, *), got {input.shape}")
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalisation (Zhang and Sennrich, 2019): rescaling without centring.

    y = x / sqrt(mean(x^2) + eps) * gamma, with the mean over the trailing
    ``normalized_shape`` axes and gamma = ``weight`` (1) of that shape;
    ``eps=None`` takes the machine epsilon of the input's dtype (PyTorch's default).

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last axis).
        eps: added to the mean square, or ``None``.
        elementwise_affine: learn ``weight``.
        device: ``None`` or ``"cpu"``.
        dtype: the parameter's dtype (the default float dtype if omitted).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.RMSNorm(4)(tg.randn(2, 4)).shape
        (2, 4)
    """

    def __init__(self, normalized_shape: Any, eps: float | None = None, elementwise_affine: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        check_device(device)
        self.normalized_shape = _normalized_shape("RMSNorm", normalized_shape)
        self.eps = None if eps is None else check_positive("RMSNorm", "eps", eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(Tensor(np.ones(self.normalized_shape), dtype=_float_dtype(dtype)))
        else:
            self.register_parameter("weight", None)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        _check_trailing(f"RMSNorm({self.normalized_shape})", input, self.normalized_shape, None)
        return rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
