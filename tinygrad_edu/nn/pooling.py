"""Pooling layers as ``torch.nn``: `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`, and their functional forms.

Pooling summarises each window of every channel by one number, the largest
(max pooling) or the mean (average pooling), shrinking the feature maps and
making them less sensitive to small shifts. It has no parameters. Each is one
graph node (`tinygrad_edu.ops.MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`).
"""

from __future__ import annotations

from typing import Any

from .. import ops
from .._checks import check_int
from ..ops.conv import adaptive_pool_matrix, max_pool2d_indices
from ..tensor import ShapeError, Tensor, _apply, _wrap
from .conv import _ntuple
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


def _pool_args(who: str, input: Tensor, kernel_size: Any, stride: Any, padding: Any,  # noqa: A002
               dilation: Any, ceil_mode: bool) -> tuple:
    """Check a pooling call and return (kernel, stride, padding, dilation) as pairs, before anything is computed."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{who}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"{who}: expected input of shape (N, C, H, W) or (C, H, W), got {input.shape}")
    kernel = _ntuple(who, "kernel_size", kernel_size, 2, minimum=1)
    stride = kernel if stride is None or stride == () else _ntuple(who, "stride", stride, 2, minimum=1)
    padding = _ntuple(who, "padding", padding, 2, minimum=0)
    dilation = _ntuple(who, "dilation", dilation, 2, minimum=1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{who}: padding must be at most half of kernel_size, got padding={padding} and "
                         f"kernel_size={kernel}")
    for size, k, s, p, d in zip(input.shape[-2:], kernel, stride, padding, dilation):
        out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if out < 1:
            raise ShapeError(f"{who}: the window (kernel_size={kernel}, dilation={dilation}) is larger than the "
                             f"padded input {tuple(input.shape[-2:])} (padding={padding}); expected an input at "
                             f"least as large as the window")
    if input.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating-point input, got dtype {input.dtype}")
    return kernel, stride, padding, dilation


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-D max pooling: out[n, c, i, j] = max over the window at (i * s_h, j * s_w) of the (-inf padded) input.

    The gradient goes to the maximum of each window (the first one, on ties),
    as PyTorch's does.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size: window size, an int or a pair.
        stride: step between windows (default: ``kernel_size``).
        padding: implicit -inf on each side, at most half the kernel (default 0).
        dilation: spacing between window elements (default 1).
        ceil_mode: round the output size up instead of down (a last, partial window).
        return_indices: also return each maximum's position in its flattened H * W plane (int64).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.max_pool2d(tg.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
        [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    kernel, stride, padding, dilation = _pool_args("max_pool2d", input, kernel_size, stride, padding, dilation,
                                                   ceil_mode)
    out = _apply(ops.MaxPool2d, input, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                 ceil_mode=bool(ceil_mode))
    if not return_indices:
        return out
    # Rare (MaxUnpool): the node keeps only what backward needs, so the argmax is found again here.
    node = ops.MaxPool2d()
    node.forward(input.numpy(), kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                 ceil_mode=bool(ceil_mode))
    indices = max_pool2d_indices(node.argmax, input.shape[-1], node.out_size, kernel, stride, padding, dilation)
    return out, _wrap(indices.reshape(out.shape))


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling: out[n, c, i, j] = (sum of the window at (i * s_h, j * s_w)) / divisor.

    Args:
        input: (N, C, H, W) or (C, H, W).
        kernel_size: window size, an int or a pair.
        stride: step between windows (default: ``kernel_size``).
        padding: implicit zeros on each side, at most half the kernel (default 0).
        ceil_mode: round the output size up instead of down (a last, partial window).
        count_include_pad: the divisor counts the padding zeros (default True) or only input elements.
        divisor_override: divide every window by this number instead.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.avg_pool2d(tg.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
        [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    kernel, stride, padding, _ = _pool_args("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        divisor_override = check_int("avg_pool2d", "divisor_override", divisor_override, minimum=1)
    return _apply(ops.AvgPool2d, input, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=bool(ceil_mode),
                  count_include_pad=bool(count_include_pad), divisor_override=divisor_override)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:  # noqa: A002
    """2-D adaptive average pooling to a fixed ``output_size`` whatever the input's size.

    Output row i averages input rows floor(i * H / H_out) to ceil((i + 1) * H / H_out) (and the same
    for columns), PyTorch's bins; ``output_size`` is an int, a pair, and ``None`` keeps that side.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.functional.adaptive_avg_pool2d(tg.randn(2, 8, 7, 5), 1).shape
        (2, 8, 1, 1)
    """
    who = "adaptive_avg_pool2d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{who}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"{who}: expected input of shape (N, C, H, W) or (C, H, W), got {input.shape}")
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"{who}: output_size must be an int or a pair, got {output_size!r}")
    sizes = tuple(n if s is None else check_int(who, "output_size", s, minimum=1)
                  for s, n in zip(sizes, input.shape[-2:]))
    if input.dtype.kind != "f":
        raise TypeError(f"{who}: expected a floating-point input, got dtype {input.dtype}")
    rows = adaptive_pool_matrix(input.shape[-2], sizes[0], input.dtype)
    cols = adaptive_pool_matrix(input.shape[-1], sizes[1], input.dtype)
    return _apply(ops.AdaptiveAvgPool2d, input, rows=rows, cols=cols)


class MaxPool2d(Module):
    """2-D max pooling over windows of each channel, exactly ``torch.nn.MaxPool2d``.

    out[n, c, i, j] = max_{u < kH, v < kW} x_pad[n, c, i * s_h + u * d_h, j * s_w + v * d_w],
    with -inf padding; the gradient goes to each window's maximum.

    Args:
        kernel_size: window size, an int or a pair.
        stride: step between windows (default ``None``: the kernel size, windows side by side).
        padding: implicit -inf on each side, at most half the kernel (default 0).
        dilation: spacing between window elements (default 1).
        return_indices: also return the maxima's flattened positions (for ``MaxUnpool2d``).
        ceil_mode: round the output size up instead of down.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), each side
    floor((size + 2 * padding - dilation * (k - 1) - 1) / stride) + 1 (ceil in ceil_mode).

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.MaxPool2d(2)(tg.randn(64, 16, 8, 8)).shape
        (64, 16, 4, 4)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.padding, self.dilation = kernel_size, padding, dilation
        self.stride = kernel_size if stride is None else stride
        self.return_indices, self.ceil_mode = return_indices, ceil_mode
        _ntuple("MaxPool2d", "kernel_size", kernel_size, 2, minimum=1)
        _ntuple("MaxPool2d", "stride", self.stride, 2, minimum=1)
        _ntuple("MaxPool2d", "padding", padding, 2, minimum=0)
        _ntuple("MaxPool2d", "dilation", dilation, 2, minimum=1)

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling over windows of each channel, exactly ``torch.nn.AvgPool2d``.

    out[n, c, i, j] = (1 / divisor) sum_{u < kH, v < kW} x_pad[n, c, i * s_h + u, j * s_w + v], zero padding.

    Args:
        kernel_size: window size, an int or a pair.
        stride: step between windows (default ``None``: the kernel size).
        padding: implicit zeros on each side, at most half the kernel (default 0).
        ceil_mode: round the output size up instead of down.
        count_include_pad: the divisor counts the padding zeros (default True).
        divisor_override: divide by this number instead of the window's size.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.AvgPool2d(2)(tg.ones(1, 3, 4, 4)).shape
        (1, 3, 2, 2)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, kernel_size if stride is None else stride, padding
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override
        _ntuple("AvgPool2d", "kernel_size", kernel_size, 2, minimum=1)
        _ntuple("AvgPool2d", "stride", self.stride, 2, minimum=1)
        _ntuple("AvgPool2d", "padding", padding, 2, minimum=0)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, exactly ``torch.nn.AdaptiveAvgPool2d``.

    Output cell (i, j) is the mean of input rows floor(i * H / H_out) .. ceil((i + 1) * H / H_out) - 1
    and the matching columns; ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Args:
        output_size: (H_out, W_out), or an int for a square; ``None`` keeps that side's input size.

    Example:
        >>> import tinygrad_edu as tg
        >>> tg.nn.AdaptiveAvgPool2d((1, 1))(tg.randn(4, 32, 7, 7)).shape
        (4, 32, 1, 1)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
