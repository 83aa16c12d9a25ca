"""Convolution and pooling: each layer one fused node, im2col plus BLAS.

A convolution slides a kernel over the (padded) input. Written as a matrix
product it is *im2col*: every window of the input becomes one column of a
matrix ``cols`` (made by ``np.lib.stride_tricks.as_strided``, a view, then one
copy), and the whole layer is ``out = W2 @ cols`` with ``W2`` the weight
flattened to (out_channels, in_channels * kernel elements). Its backward is
the same product's rule: dL/dW2 = grad_out @ cols^T, dL/dcols = W2^T @ grad_out,
and *col2im* adds each column back into the window it came from (one strided
slice per kernel offset, so overlapping windows add up).

That is the readable form below. The fast path (`ops.kernels`, used unless
numba's JIT is off) does the same products with the batch folded into the
columns' width, cols = (C * KH * KW, N * OH * OW), so each is ONE matrix
product, and writes and scatters the columns in compiled loops; max pooling
likewise runs one compiled pass per direction.

All geometry here is 2-D; a 1-D convolution or pooling is the 2-D one with a
height of 1 (the arrays get a length-1 axis, no copy). Options arrive already
normalised by ``tinygrad_edu.nn.conv`` / ``nn.pooling`` (tuples, padding as
(low, high) pairs) and already checked.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd import Node
from ._fast import compiled

__all__ = ["ConvNd", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "max_pool2d_indices", "adaptive_pool_matrix"]

# np.pad's names for PyTorch's padding modes.
_NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _windows(xp: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, out_size: tuple) -> np.ndarray:
    """A read-only view (N, C, KH, KW, OH, OW) of the windows of ``xp`` (N, C, H, W); nothing is copied."""
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    return as_strided(
        xp, shape=(n, c, kernel[0], kernel[1], out_size[0], out_size[1]),
        strides=(s_n, s_c, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1]),
        writeable=False,
    )


def _offset_slices(kh: int, kw: int, stride: tuple, dilation: tuple, out_size: tuple) -> tuple:
    """The strided slice of the padded input that kernel offset (kh, kw) reads, one entry per output."""
    top, left = kh * dilation[0], kw * dilation[1]
    return (..., slice(top, top + stride[0] * (out_size[0] - 1) + 1, stride[0]),
            slice(left, left + stride[1] * (out_size[1] - 1) + 1, stride[1]))


def _pad(x: np.ndarray, padding: tuple, mode: str = "zeros", value: float = 0.0) -> np.ndarray:
    """``x`` padded on its last two axes by ``padding`` = ((top, bottom), (left, right))."""
    if not any(lo or hi for lo, hi in padding):
        return x
    if mode != "zeros":
        return np.pad(x, ((0, 0),) * (x.ndim - 2) + tuple(padding), mode=_NUMPY_PAD_MODE[mode])
    (top, bottom), (left, right) = padding
    xp = np.full(x.shape[:-2] + (x.shape[-2] + top + bottom, x.shape[-1] + left + right), value, dtype=x.dtype)
    xp[..., top:top + x.shape[-2], left:left + x.shape[-1]] = x
    return xp


def _unpad_grad(grad_xp: np.ndarray, shape: tuple, padding: tuple, mode: str) -> np.ndarray:
    """The adjoint of `_pad`: dL/dx from dL/d(padded x)."""
    (top, _), (left, _) = padding
    if mode == "zeros":
        return grad_xp[..., top:top + shape[-2], left:left + shape[-1]]
    # Reflect/replicate/circular copy some inputs to several places: each place adds its gradient
    # back. For an axis, padded = A @ x with A one-hot (padded index -> source index), so dL/dx = A^T g.
    for axis, (size, (lo, hi)) in zip((-2, -1), zip(shape[-2:], padding)):
        source = np.pad(np.arange(size), (lo, hi), mode=_NUMPY_PAD_MODE[mode])
        one_hot = (source[:, None] == np.arange(size)).astype(grad_xp.dtype)
        grad_xp = np.moveaxis(np.tensordot(grad_xp, one_hot, axes=([axis], [0])), -1, axis)
    return grad_xp


class ConvNd(Node):
    """out = W2 @ cols(x) + b;  dL/dW2 = grad_out @ cols^T, dL/dx = col2im(W2^T @ grad_out), dL/db = sum grad_out.

    ``x`` is (N, C_in, *spatial) or unbatched (C_in, *spatial), ``weight``
    (C_out, C_in / groups, *kernel), one or two spatial dimensions. With
    ``groups`` = g the channels split into g independent convolutions, done as
    one batched matrix product: (g, C_out/g, C_in/g * K) @ (N, g, C_in/g * K, P).
    """

    saves = ((0, 1), (1, 0))  # x (as its columns) for the weight's gradient, the weight for x's

    def forward(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
                stride: tuple, padding: tuple, dilation: tuple, groups: int = 1,
                padding_mode: str = "zeros") -> np.ndarray:
        dims = weight.ndim - 2
        self.unbatched = x.ndim == dims + 1
        if self.unbatched:
            x = x[None]
        if dims == 1:  # 1-D as 2-D with height 1
            x, weight = x[:, :, None, :], weight[:, :, None, :]
            stride, dilation, padding = (1,) + tuple(stride), (1,) + tuple(dilation), ((0, 0),) + tuple(padding)
        self.x_shape, self.weight_shape, self.dims = x.shape, weight.shape, dims
        self.stride, self.padding, self.dilation, self.groups, self.padding_mode = \
            stride, padding, dilation, groups, padding_mode
        n, c, _, _ = x.shape
        out_c, c_group, kh, kw = weight.shape
        xp = _pad(x, padding, padding_mode)
        out_h = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        out_w = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        self.padded_shape, self.out_size = xp.shape, (out_h, out_w)
        self.weight2 = weight.reshape(groups, out_c // groups, c_group * kh * kw)
        self.fast = compiled()
        if self.fast is not None:
            out = self._forward_compiled(xp, bias)
        else:
            # im2col: (N, C, KH, KW, OH, OW) view -> (N, g, C/g * KH * KW, OH * OW), the one copy.
            cols = _windows(xp, (kh, kw), stride, dilation, (out_h, out_w)).reshape(
                n, groups, c_group * kh * kw, out_h * out_w)
            if self.needs_input_grad[1]:
                self.cols = cols
            out = np.matmul(self.weight2, cols).reshape(n, out_c, out_h, out_w)  # (N, g, C_out/g, P): NCHW
            if bias is not None:
                out += bias[:, None, None]
        if dims == 1:
            out = out[:, :, 0, :]
        return out[0] if self.unbatched else out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need = self.needs_input_grad
        n, c, _, _ = self.x_shape
        out_c, c_group, kh, kw = self.weight_shape
        positions = int(np.prod(self.out_size))  # not -1 in the reshapes: an empty batch (n = 0) is allowed
        if self.fast is not None:
            grad_xp, grad_w, grad_b = self._backward_compiled(grad_out.reshape(n, out_c, positions))
            grad_x = None if grad_xp is None else _unpad_grad(grad_xp, self.x_shape, self.padding, self.padding_mode)
            grad_w = None if grad_w is None else grad_w.reshape(self.weight_shape)
            if self.dims == 1:
                grad_x = None if grad_x is None else grad_x[:, :, 0, :]
                grad_w = None if grad_w is None else grad_w[:, :, 0, :]
            if self.unbatched and grad_x is not None:
                grad_x = grad_x[0]
            return (grad_x, grad_w, grad_b)[: len(need)]
        g = grad_out.reshape(n, self.groups, out_c // self.groups, positions)  # (N, g, C_out/g, P)
        grad_x = grad_w = grad_b = None
        if need[0]:
            grad_xp = self._col2im(grad_out.reshape(n, out_c, *self.out_size))
            grad_x = _unpad_grad(grad_xp, self.x_shape, self.padding, self.padding_mode)
            if self.dims == 1:
                grad_x = grad_x[:, :, 0, :]
            if self.unbatched:
                grad_x = grad_x[0]
        if need[1]:
            # sum over the batch of grad_out[n] @ cols[n]^T (a batched product, then the sum: measured
            # faster than one product over (N * P) here, which needs two transposed copies first).
            grad_w = np.matmul(g, self.cols.swapaxes(-1, -2)).sum(axis=0)
            grad_w = grad_w.reshape(out_c, c_group, kh, kw)
            if self.dims == 1:
                grad_w = grad_w[:, :, 0, :]
        if len(need) > 2 and need[2]:
            grad_b = g.sum(axis=(0, 3)).reshape(out_c)
        return (grad_x, grad_w, grad_b)[: len(need)]

    def _col2im(self, grad_out: np.ndarray) -> np.ndarray:
        """dL/d(padded x): the columns' gradient W^T @ grad_out, each column added back where it was read."""
        n, c, hp, wp = self.padded_shape
        out_c, _, kh, kw = self.weight_shape
        (oh, ow), groups, dtype = self.out_size, self.groups, grad_out.dtype
        weight_t = self.weight2.transpose(0, 2, 1)  # (g, C/g * K, C_out/g)
        if self.stride != (1, 1):
            grad_cols = np.matmul(weight_t, grad_out.reshape(n, groups, out_c // groups, oh * ow))
            grad_cols = grad_cols.reshape(n, c, kh, kw, oh, ow)
            grad_xp = np.zeros((n, c, hp, wp), dtype=dtype)
            for i in range(kh):  # one strided slice per kernel offset: overlapping windows add up
                for j in range(kw):
                    grad_xp[_offset_slices(i, j, self.stride, self.dilation, self.out_size)] += grad_cols[:, :, i, j]
            return grad_xp
        # Stride 1: in the row-major flattening of each padded plane, the window of output (r, q) at
        # kernel offset (i, j) starts at (r + i*dh) * wp + q + j*dw. Give grad_out the padded width wp
        # (zeros in the extra columns): then each kernel offset's gradient is ONE contiguous run of
        # oh * wp elements added at offset i*dh*wp + j*dw, long runs NumPy adds fast (the strided
        # slices above have rows of only ow elements). The extra columns add zeros, harmlessly.
        (dh, dw) = self.dilation
        wide = np.zeros((n, out_c, oh, wp), dtype=dtype)
        wide[..., :ow] = grad_out
        grad_cols = np.matmul(weight_t, wide.reshape(n, groups, out_c // groups, oh * wp)).reshape(
            n, c, kh * kw, oh * wp)
        flat = np.zeros((n, c, hp * wp + (kw - 1) * dw), dtype=dtype)
        for i in range(kh):
            for j in range(kw):
                start = i * dh * wp + j * dw
                flat[:, :, start:start + oh * wp] += grad_cols[:, :, i * kw + j]
        return flat[:, :, :hp * wp].reshape(n, c, hp, wp)


    # The compiled path: the same products with the batch folded into the columns' width.
    # cols is laid out (C, KH, KW, N, OH, OW), written by one compiled pass (ops.kernels.im2col), so
    # each product is ONE matrix product over N * P columns instead of N small ones (at the digits
    # CNN's 4 x 4 planes, 64 products of 16 columns each were a third of the step), and the weight's
    # gradient needs no sum over the batch afterwards.

    def _forward_compiled(self, xp: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        n, c, _, _ = xp.shape
        out_c, c_group, kh, kw = self.weight_shape
        (oh, ow), groups = self.out_size, self.groups
        cols = np.empty((c, kh, kw, n, oh, ow), dtype=xp.dtype)
        self.fast.im2col(kh, kw, *self.stride, *self.dilation, *self.fast.plane(oh, ow))(xp, cols)
        cols = cols.reshape(groups, c_group * kh * kw, n * oh * ow)
        if self.needs_input_grad[1]:
            self.cols = cols
        out_t = np.matmul(self.weight2, cols).reshape(out_c, n, oh, ow)  # (g, C_out/g, N*P) = (C_out, N, ...)
        out = np.empty((n, out_c, oh, ow), dtype=out_t.dtype)
        np.copyto(out.transpose(1, 0, 2, 3), out_t)  # to NCHW
        if bias is not None:
            out += bias[:, None, None]
        return out

    def _backward_compiled(self, grad_out: np.ndarray) -> tuple:
        """(dL/d(padded x), dL/dW2, dL/db) from grad_out (N, C_out, P)."""
        need = self.needs_input_grad
        n, c, hp, wp = self.padded_shape
        out_c, c_group, kh, kw = self.weight_shape
        (oh, ow), groups = self.out_size, self.groups
        width = n * oh * ow
        grad_xp = grad_w = grad_b = None
        # grad_out as rows, one per output position (N*P, C_out): the orientation in which BLAS runs
        # these products fastest here (up to 2x, benchmarks/zoo.py).
        g_rows = np.ascontiguousarray(grad_out.transpose(0, 2, 1)).reshape(width, out_c)
        if need[0] and groups == 1:
            grad_rows = g_rows @ self.weight2[0]  # the columns' gradient as rows, (N, OH, OW, C, KH, KW)
            grad_xp = np.zeros((n, c, hp, wp), dtype=grad_out.dtype)
            self.fast.col2im_rows(kh, kw, *self.stride, *self.dilation)(grad_rows.reshape(n, oh, ow, c, kh, kw),
                                                                        grad_xp)
        elif need[0]:
            g = np.ascontiguousarray(grad_out.transpose(1, 0, 2)).reshape(groups, out_c // groups, width)
            grad_cols = np.matmul(self.weight2.transpose(0, 2, 1), g).reshape(c, kh, kw, n, oh, ow)
            grad_xp = np.zeros((n, c, hp, wp), dtype=grad_out.dtype)
            self.fast.col2im(kh, kw, *self.stride, *self.dilation, *self.fast.plane(oh, ow))(grad_cols, grad_xp)
        if need[1] or (len(need) > 2 and need[2]):
            if need[1]:
                by_group = g_rows.reshape(width, groups, out_c // groups).transpose(1, 0, 2)
                grad_w = np.matmul(self.cols, by_group).transpose(0, 2, 1)  # (g, C_out/g, C/g * K)
            if len(need) > 2 and need[2]:
                grad_b = g_rows.sum(axis=0)
        return grad_xp, grad_w, grad_b


def _pool_setup(node: Node, x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                ceil_mode: bool) -> tuple:
    """Flatten leading axes to one, and work out the output size and the extra right padding ceil_mode needs."""
    node.x_shape = x.shape
    x = x.reshape((-1,) + x.shape[-2:])
    out_size, pads = [], []
    for size, k, s, p, d in zip(x.shape[-2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        out = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside input or left pad
            out -= 1
        out_size.append(out)
        pads.append((p, max(p, (out - 1) * s + span - size - p)))
    node.out_size, node.pool_padding, node.kernel, node.stride, node.dilation = \
        tuple(out_size), tuple(pads), kernel, stride, dilation
    return x, tuple(out_size), tuple(pads)


def _col2im_pool(node: Node, per_offset: callable, dtype: np.dtype) -> np.ndarray:
    """Add ``per_offset(i, j)`` (the gradient reaching kernel offset (i, j)) back into the input's shape."""
    m = int(np.prod(node.x_shape[:-2], dtype=np.int64))
    (top, bottom), (left, right) = node.pool_padding
    grad_xp = np.zeros((m, node.x_shape[-2] + top + bottom, node.x_shape[-1] + left + right), dtype=dtype)
    for i in range(node.kernel[0]):
        for j in range(node.kernel[1]):
            grad_xp[_offset_slices(i, j, node.stride, node.dilation, node.out_size)] += per_offset(i, j)
    return grad_xp[:, top:top + node.x_shape[-2], left:left + node.x_shape[-1]].reshape(node.x_shape)


def _running_max(candidates: list) -> tuple[np.ndarray, np.ndarray]:
    """The elementwise maximum of equally shaped arrays, and the index of the first array holding it.

    Branch-free on purpose: masked NumPy writes (``np.where``, ``copyto(where=)``, boolean indexing)
    on data-dependent masks ran ~50x slower here than plain arithmetic on the mask as 0/1.
    """
    best = candidates[0]
    which = np.zeros(best.shape, dtype=np.int8)
    for k in range(1, len(candidates)):
        better = candidates[k] > best  # strictly: a tie keeps the earlier index; a NaN always wins (PyTorch's rule)
        better |= np.isnan(candidates[k])
        best = np.maximum(best, candidates[k])
        # indices only grow along the loop, so "k where better, else unchanged" is a maximum
        which = np.maximum(which, better.view(np.int8) * np.int8(k))
    return best, which


class MaxPool2d(Node):
    """out = the largest x in each window;  dL/dx = grad_out at each window's (first) argmax, 0 elsewhere.

    ``x`` is (*, H, W); padding counts as -inf. A tie goes to the first
    maximum in the window, as PyTorch's kernel picks it.
    """

    def forward(self, x: np.ndarray, *, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
                ceil_mode: bool = False) -> np.ndarray:
        x, out_size, pads = _pool_setup(self, x, kernel_size, stride, padding, dilation, ceil_mode)
        xp = _pad(x, pads, value=-np.inf)
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_size, stride, dilation, out_size
        fast = compiled()
        if fast is not None:  # the same rule in one compiled pass (ops.kernels.max_pool2d)
            out = np.empty((xp.shape[0], oh, ow), dtype=xp.dtype)
            self.argmax = np.empty(out.shape, dtype=np.int32)
            fast.max_pool2d(kh, kw, sh, sw, dh, dw, *fast.plane(oh, ow))(xp, out, self.argmax)
            return out.reshape(self.x_shape[:-2] + out_size)
        # The window's maximum is the maximum over its rows of each row's maximum: a running maximum
        # over the KW column offsets (strided slices, every input row), then over the KH row offsets,
        # KH + KW vectorised passes and no copy of the windows. A later element replaces the best so
        # far only if strictly larger, so a tie keeps the first, as PyTorch's kernel does.
        row_max, col = _running_max([xp[:, :, j * dw:j * dw + sw * (ow - 1) + 1:sw] for j in range(kw)])
        out, row = _running_max([row_max[:, i * dh:i * dh + sh * (oh - 1) + 1:sh] for i in range(kh)])
        col_of_row = np.zeros(out.shape, dtype=np.int8)  # the column offset within the chosen row
        for i in range(kh):
            col_of_row += (row == i).view(np.int8) * col[:, i * dh:i * dh + sh * (oh - 1) + 1:sh]
        self.argmax = row.astype(np.intp) * kw + col_of_row  # offset i * KW + j of each window's maximum
        return out.reshape(self.x_shape[:-2] + out_size)

    def backward(self, grad_out: np.ndarray) -> tuple:
        g = grad_out.reshape((-1,) + self.out_size)
        argmax = self.argmax
        kw = self.kernel[1]
        fast = compiled()
        if fast is not None:  # the same scatter in one compiled pass
            (top, bottom), (left, right) = self.pool_padding
            h, w = self.x_shape[-2:]
            grad_xp = np.zeros((g.shape[0], h + top + bottom, w + left + right), dtype=g.dtype)
            fast.max_pool2d_backward(*self.kernel, *self.stride, *self.dilation, *fast.plane(*self.out_size))(
                g, argmax, grad_xp)
            return (grad_xp[:, top:top + h, left:left + w].reshape(self.x_shape),)
        # the gradient reaching offset (i, j): grad_out where that offset held the maximum (a 0/1 product,
        # branch-free, see `_running_max`)
        return (_col2im_pool(self, lambda i, j: g * (argmax == i * kw + j), grad_out.dtype),)


def max_pool2d_indices(argmax: np.ndarray, width: int, out_size: tuple, kernel_size: tuple, stride: tuple,
                       padding: tuple, dilation: tuple) -> np.ndarray:
    """PyTorch's ``return_indices``: each max's position in its input plane, flattened (row * W + column)."""
    i, j = np.divmod(argmax, kernel_size[1])
    rows = np.arange(out_size[0])[:, None] * stride[0] - padding[0] + i * dilation[0]
    cols = np.arange(out_size[1])[None, :] * stride[1] - padding[1] + j * dilation[1]
    return (rows * width + cols).astype(np.int64)


class AvgPool2d(Node):
    """out = (sum of the window) / divisor;  dL/dx = grad_out / divisor at every element of each window.

    ``x`` is (*, H, W); padding counts as 0. The divisor is PyTorch's: the
    window's size clipped to the padded input (``count_include_pad=True``) or
    to the input itself, or ``divisor_override``.
    """

    def forward(self, x: np.ndarray, *, kernel_size: tuple, stride: tuple, padding: tuple, ceil_mode: bool = False,
                count_include_pad: bool = True, divisor_override: int | None = None) -> np.ndarray:
        x, out_size, pads = _pool_setup(self, x, kernel_size, stride, padding, (1, 1), ceil_mode)
        xp = _pad(x, pads)
        out = np.zeros((x.shape[0],) + out_size, dtype=x.dtype)
        for i in range(kernel_size[0]):
            for j in range(kernel_size[1]):
                out += xp[_offset_slices(i, j, stride, (1, 1), out_size)]
        if divisor_override:
            self.divisor = np.asarray(divisor_override, dtype=x.dtype)
        else:
            counts = []
            for size, k, s, p, n_out in zip(x.shape[-2:], kernel_size, stride, padding, out_size):
                start = np.arange(n_out) * s - p
                end = np.minimum(start + k, size + p)
                if not count_include_pad:
                    start, end = np.maximum(start, 0), np.minimum(end, size)
                counts.append(end - start)
            self.divisor = np.multiply.outer(counts[0], counts[1]).astype(x.dtype)
        out /= self.divisor
        return out.reshape(self.x_shape[:-2] + out_size)

    def backward(self, grad_out: np.ndarray) -> tuple:
        g = grad_out.reshape((-1,) + self.out_size) / self.divisor
        return (_col2im_pool(self, lambda i, j: g, grad_out.dtype),)


def adaptive_pool_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size): row i averages x[floor(i * size / out) : ceil((i + 1) * size / out)], PyTorch's bins."""
    matrix = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class AdaptiveAvgPool2d(Node):
    """out = A_h x A_w^T (the mean of each bin);  dL/dx = A_h^T grad_out A_w.

    An average over a rectangle is an average over its rows of averages over
    its columns, so the pooling is two small matrix products with the bin
    matrices of `adaptive_pool_matrix`; ``x`` is (*, H, W).
    """

    def forward(self, x: np.ndarray, *, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        self.rows, self.cols = rows, cols
        return np.matmul(np.matmul(rows, x), cols.T)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (np.matmul(np.matmul(self.rows.T, grad_out), self.cols),)
