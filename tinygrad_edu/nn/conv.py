"""Convolution layers as ``torch.nn.Conv1d`` / ``Conv2d``, and the functional ``conv1d`` / ``conv2d``.

A convolution layer slides ``out_channels`` small kernels over the input and
takes, at every position, the dot product of each kernel with the window under
it (a cross-correlation, as in every deep-learning library):

    out[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] * x_pad[n, g(o) * C_in/groups + c,
                                                              i * s_h + u * d_h, j * s_w + v * d_w]

with stride s, dilation d, zero padding, and ``groups`` splitting the channels
into independent convolutions. The work is one graph node per layer
(`tinygrad_edu.ops.ConvNd`: im2col over strided views and one batched matrix
product, forward and backward).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .._checks import check_choice, check_int
from ..device import check_device
from ..dtypes import get_default_dtype
from ..tensor import ShapeError, Tensor, _apply
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "conv1d", "conv2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(who: str, name: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    """``value`` (an int, or a tuple/list of ``n`` ints) as a tuple of ``n`` ints, each >= ``minimum``.

    A layer checks the same few values on every call: plain ints and tuples of them are
    remembered once they have passed (a bad value is checked, and refused, every time).
    """
    key = (who, name, value, n, minimum)
    if type(value) is int or (type(value) is tuple and all(type(v) is int for v in value)):
        checked = _CHECKED.get(key)
        if checked is None:
            checked = _CHECKED[key] = _check_ntuple(who, name, value, n, minimum)
        return checked
    return _check_ntuple(who, name, value, n, minimum)


_CHECKED: dict[tuple, tuple[int, ...]] = {}  # (who, name, value, n, minimum) -> the checked tuple


def _check_ntuple(who: str, name: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n:
        raise ValueError(f"{who}: {name} must be an integer or a tuple of {n} integers, got {value!r}")
    for v in values:
        try:
            check_int(who, name, v, minimum=minimum)
        except ValueError:
            raise ValueError(f"{who}: {name} must be an integer >= {minimum} or a tuple of {n} such integers, "
                             f"got {value!r}") from None
    return tuple(int(v) for v in values)


def _padding_pairs(who: str, padding: Any, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """``padding`` (int, tuple, 'valid' or 'same') as (low, high) pairs per spatial dimension.

    'same' pads d * (k - 1) in total per dimension, the odd element on the
    high side, as PyTorch does; it needs stride 1.
    """
    if isinstance(padding, str):
        check_choice(who, "padding", padding, ("valid", "same"))
        if padding == "valid":
            return ((0, 0),) * len(kernel)
        if any(s != 1 for s in stride):
            raise ValueError(f"{who}: padding='same' is not supported for strided convolutions, got stride={stride}")
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in _ntuple(who, "padding", padding, len(kernel), minimum=0))


def _conv(who: str, dims: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any,  # noqa: A002
          padding: Any, dilation: Any, groups: int, padding_mode: str = "zeros") -> Tensor:
    """Check everything, then run the one `ops.ConvNd` node (shared by the layers and the functions)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"{who}: input and weight must be Tensors, got {type(input).__name__} and "
                        f"{type(weight).__name__}")
    if weight.ndim != dims + 2:
        raise ShapeError(f"{who}: weight must have {dims + 2} dimensions (out_channels, in_channels/groups, "
                         f"{'kL' if dims == 1 else 'kH, kW'}), got shape {weight.shape}")
    groups = check_int(who, "groups", groups, minimum=1)
    stride = _ntuple(who, "stride", stride, dims, minimum=1)
    dilation = _ntuple(who, "dilation", dilation, dims, minimum=1)
    kernel = weight.shape[2:]
    pads = _padding_pairs(who, padding, kernel, stride, dilation)
    out_channels, in_per_group = weight.shape[:2]
    in_channels = in_per_group * groups
    spatial = "L" if dims == 1 else "H, W"
    if input.ndim not in (dims + 1, dims + 2) or input.shape[-dims - 1] != in_channels:
        raise ShapeError(f"{who}: expected input of shape (N, {in_channels}, {spatial}) or ({in_channels}, "
                         f"{spatial}) (in_channels={in_channels}), got {input.shape}")
    if out_channels % groups:
        raise ValueError(f"{who}: out_channels ({out_channels}) must be divisible by groups ({groups})")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (out_channels,)):
        raise ShapeError(f"{who}: bias must be a Tensor of shape ({out_channels},), got "
                         f"{getattr(bias, 'shape', type(bias).__name__)}")
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(input.shape[-dims:], pads))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(s > p for s, p in zip(spans, padded)):
        raise ShapeError(f"{who}: the kernel {tuple(kernel)} (dilated extent {spans}) is larger than the padded "
                         f"input {padded}; expected an input at least as large as the kernel")
    if padding_mode != "zeros" and any(lo > n or hi > n for n, (lo, hi) in zip(input.shape[-dims:], pads)):
        raise ValueError(f"{who}: padding {pads} is too large for padding_mode={padding_mode!r} on an input of "
                         f"size {input.shape[-dims:]}")
    tensors = (input, weight) if bias is None else (input, weight, bias)
    if len({t.dtype for t in tensors}) != 1:
        raise TypeError(f"{who}: input, weight and bias must have the same dtype, got "
                        f"{', '.join(str(t.dtype) for t in tensors)}")
    if input.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating-point input, got dtype {input.dtype}")
    return _apply(ops.ConvNd, *tensors, stride=stride, padding=pads, dilation=dilation, groups=groups,
                  padding_mode=padding_mode)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of ``input`` (N, C_in, L) or (C_in, L) with ``weight``.

    ``weight`` is (C_out, C_in/groups, k):

    out[n, o, i] = bias[o] + sum_{c, u} weight[o, c, u] * x_pad[n, c + group offset, i * stride + u * dilation],
    of length floor((L + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.

    Args:
        input, weight, bias: as above; ``bias`` of shape (C_out,) or None.
        stride, padding, dilation: an int or a 1-tuple; ``padding`` also 'valid' (0) or 'same'
            (output as long as the input, stride 1 only).
        groups: split the channels into this many independent convolutions.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.conv1d(tg.randn(2, 3, 10), tg.randn(4, 3, 3), padding="same").shape
        (2, 4, 10)
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,  # noqa: A002
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of ``input`` (N, C_in, H, W) or (C_in, H, W) with ``weight``.

    ``weight`` is (C_out, C_in/groups, kH, kW):

    out[n, o, i, j] = bias[o] + sum_{c, u, v} weight[o, c, u, v] * x_pad[n, c + group offset,
    i * s_h + u * d_h, j * s_w + v * d_w]; each output side is
    floor((size + 2 * padding - dilation * (k - 1) - 1) / stride) + 1.

    Args:
        input, weight, bias: as above; ``bias`` of shape (C_out,) or None.
        stride, padding, dilation: an int or a pair (height, width); ``padding`` also 'valid' (0) or
            'same' (output as large as the input, stride 1 only; an odd total puts the extra row and
            column at the bottom and right, as PyTorch does).
        groups: split the channels into this many independent convolutions.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.conv2d(tg.randn(2, 3, 8, 8), tg.randn(4, 3, 3, 3), padding=1, stride=2).shape
        (2, 4, 4, 4)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


class _ConvNd(Module):
    """What `Conv1d` and `Conv2d` share: arguments, parameters, PyTorch's initialisation."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        who = type(self).__name__
        self.in_channels = check_int(who, "in_channels", in_channels, minimum=1)
        self.out_channels = check_int(who, "out_channels", out_channels, minimum=1)
        self.groups = check_int(who, "groups", groups, minimum=1)
        if in_channels % groups:
            raise ValueError(f"{who}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{who}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = _ntuple(who, "kernel_size", kernel_size, self.dims, minimum=1)
        self.stride = _ntuple(who, "stride", stride, self.dims, minimum=1)
        self.dilation = _ntuple(who, "dilation", dilation, self.dims, minimum=1)
        _padding_pairs(who, padding, self.kernel_size, self.stride, self.dilation)  # checks it
        self.padding = padding if isinstance(padding, str) else _ntuple(who, "padding", padding, self.dims, 0)
        self.padding_mode = check_choice(who, "padding_mode", padding_mode, _PADDING_MODES)
        if device is not None:
            check_device(device)  # only the CPU exists: anything else is a clear error
        dtype = dtype or get_default_dtype()
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(Tensor(np.zeros(shape), dtype=dtype))
        self.bias = Parameter(Tensor(np.zeros(out_channels), dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)), i.e. W ~ U(±1/sqrt(fan_in)); b ~ U(±1/sqrt(fan_in)).

        fan_in = in_channels / groups * (kernel elements).
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * int(np.prod(self.kernel_size))
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return _conv(type(self).__name__, self.dims, input, self.weight, self.bias, self.stride, self.padding,
                     self.dilation, self.groups, self.padding_mode)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution layer: y = W * x + b over sequences, exactly ``torch.nn.Conv1d``.

    out[n, o, i] = b[o] + sum_{c, u} W[o, c, u] * x_pad[n, c + group offset, i * stride + u * dilation].

    Args:
        in_channels: C_in, the channels of the input.
        out_channels: C_out, the number of kernels (output channels).
        kernel_size: k, an int or a 1-tuple.
        stride: step between windows (default 1).
        padding: added on both sides: an int, a 1-tuple, 'valid' (none) or 'same' (output as long as
            the input; stride 1 only). Default 0.
        dilation: spacing between kernel elements (default 1).
        groups: channels split into this many independent convolutions; divides both channel counts.
        bias: learn the additive bias b (default True).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular'.
        device, dtype: as in PyTorch (only the CPU exists; dtype defaults to the default float dtype).

    Shapes: input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out) or (C_out, L_out), L_out =
    floor((L + 2 * padding - dilation * (k - 1) - 1) / stride) + 1. ``weight`` (C_out, C_in/groups, k),
    ``bias`` (C_out,), both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = C_in/groups * k.

    Example:
        >>> import tinygrad_edu as tg
        >>> conv = tg.nn.Conv1d(4, 8, kernel_size=3, padding=1)
        >>> conv(tg.randn(2, 4, 16)).shape
        (2, 8, 16)
    """

    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution layer: y = W * x + b over images, exactly ``torch.nn.Conv2d``.

    out[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] * x_pad[n, c + group offset,
    i * s_h + u * d_h, j * s_w + v * d_w].

    Args:
        in_channels: C_in, the channels of the input (1 for grey images, 3 for RGB).
        out_channels: C_out, the number of kernels (output channels, "feature maps").
        kernel_size: an int or a pair (kH, kW).
        stride: step between windows, an int or a pair (default 1).
        padding: added on all sides: an int, a pair, 'valid' (none) or 'same' (output as large as the
            input; stride 1 only). Default 0.
        dilation: spacing between kernel elements (default 1).
        groups: channels split into this many independent convolutions; divides both channel counts
            (groups = C_in = C_out is a depthwise convolution).
        bias: learn the additive bias b (default True).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular'.
        device, dtype: as in PyTorch (only the CPU exists; dtype defaults to the default float dtype).

    Shapes: input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out), each side
    floor((size + 2 * padding - dilation * (k - 1) - 1) / stride) + 1. ``weight``
    (C_out, C_in/groups, kH, kW), ``bias`` (C_out,), both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = C_in/groups * kH * kW (PyTorch's kaiming_uniform_ with a = sqrt(5)).

    Example:
        >>> import tinygrad_edu as tg
        >>> conv = tg.nn.Conv2d(1, 16, kernel_size=3, padding=1)
        >>> conv(tg.randn(64, 1, 8, 8)).shape
        (64, 16, 8, 8)
        >>> sorted(conv.state_dict())
        ['bias', 'weight']
    """

    dims = 2
