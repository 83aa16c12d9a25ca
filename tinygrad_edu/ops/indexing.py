"""Indexing, padding, scanning and products: the tensor operations the model zoo is built on.

Each class is one rule of calculus with forward directly above backward:
`Triangle` (tril/triu), `Gather`, `Scatter`, `Pad`, `Repeat`, `Unfold`, `AsStrided`,
`CumSum` and `Prod`. Operations that pick or move elements send each
element's gradient back to where it came from; an element used several
times (a gather with repeated indices, a reflected border) gets the *sum*.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd import Node
from ._quiet import quiet

# ---------------------------------------------------------------------------
# Masks and picks
# ---------------------------------------------------------------------------


class Triangle(Node):
    """out = x below (tril) or above (triu) the ``diagonal``-th diagonal, 0 elsewhere;  d/dx = the same mask."""

    def forward(self, x: np.ndarray, diagonal: int, lower: bool) -> np.ndarray:
        self.diagonal, self.lower = diagonal, lower
        return np.tril(x, diagonal) if lower else np.triu(x, diagonal)

    def backward(self, grad_out: np.ndarray) -> tuple:
        keep = np.tril if self.lower else np.triu
        return (keep(grad_out, self.diagonal),)


def _flat_positions(shape: tuple, index: np.ndarray, axis: int) -> np.ndarray:
    """Row-major positions in an array of ``shape`` of ``x[i_0, ..., index[i], ..., i_n]``, one per position i
    of ``index`` (the element gather picks, or scatter writes)."""
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]  # elements, row-major
    flat = index * strides[axis]
    last = index.ndim - 1
    for d, n in enumerate(index.shape):
        if d != axis and n > 1:
            flat = flat + (np.arange(n) * strides[d]).reshape((n,) + (1,) * (last - d))
    return flat


def _add_at(shape: tuple, flat: np.ndarray, values: np.ndarray) -> np.ndarray:
    """zeros(shape) with ``values`` added at the row-major positions ``flat`` (repeats add up), via one bincount."""
    summed = np.bincount(flat.ravel(), weights=values.ravel(), minlength=math.prod(shape))
    return summed.reshape(shape).astype(values.dtype, copy=False)


class Gather(Node):
    """``out[i][j] = x[index[i][j]][j]`` (along ``axis``);  each picked element gets the sum of its picks' gradients."""

    def forward(self, x: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
        self.shape = x.shape
        self.flat = _flat_positions(x.shape, index, axis)
        return np.take(x, self.flat)

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (_add_at(self.shape, self.flat, grad_out),)


class Scatter(Node):
    """out = x with src written (or added) at index;  d/dx = 1 off the written places, d/dsrc = grad_out there.

    Along ``axis`` 0 of a matrix: ``out[index[i][j]][j] = src[i][j]`` (``add=True``: +=). Adding keeps
    d/dx = 1 everywhere.
    """

    def forward(self, x: np.ndarray, src: np.ndarray, index: np.ndarray, axis: int, add: bool) -> np.ndarray:
        self.flat, self.add = _flat_positions(x.shape, index, axis), add
        src = np.broadcast_to(src, index.shape) if src.ndim == 0 else src[tuple(slice(0, n) for n in index.shape)]
        out = x.copy()
        if add:
            out += _add_at(x.shape, self.flat, src)
        else:
            out.reshape(-1)[self.flat] = src
        return out

    def backward(self, grad_out: np.ndarray) -> tuple:
        need_x, need_src = self.needs_input_grad
        grad_x = grad_src = None
        if need_x:
            grad_x = grad_out
            if not self.add:
                grad_x = grad_out.copy()
                grad_x.reshape(-1)[self.flat] = 0
        if need_src:
            grad_src = np.take(grad_out, self.flat)
            shape = self.parents[1].shape
            if shape and shape != grad_src.shape:  # src larger than index: the unused part gets 0
                full = np.zeros(shape, grad_src.dtype)
                full[tuple(slice(0, n) for n in grad_src.shape)] = grad_src
                grad_src = full
        return grad_x, grad_src


# ---------------------------------------------------------------------------
# Padding, tiling and sliding windows
# ---------------------------------------------------------------------------


def _crop_slices(shape: tuple, widths: tuple) -> tuple[tuple, tuple, tuple]:
    """For constant padding by ``widths`` ((before, after) per axis, negative crops):
    the output shape, the output's slice holding the kept input, and that input's slice."""
    out_shape, dest, source = [], [], []
    for n, (before, after) in zip(shape, widths):
        start, stop = max(-before, 0), n - max(-after, 0)
        kept = max(stop - start, 0)
        out_shape.append(n + before + after)
        source.append(slice(start, start + kept))
        dest.append(slice(max(before, 0), max(before, 0) + kept))
    return tuple(out_shape), tuple(dest), tuple(source)


class Pad(Node):
    """out = x with borders of ``widths``;  d/dx = 1 for each place an element of x lands, summed over its copies.

    The border holds a constant ``value`` (no gradient), or reflected / replicated / circular copies of x.
    """

    def forward(self, x: np.ndarray, widths: tuple, mode: str, value: float) -> np.ndarray:
        self.shape, self.widths, self.mode = x.shape, widths, mode
        if mode == "constant":
            out_shape, self.dest, self.source = _crop_slices(x.shape, widths)
            out = np.full(out_shape, value, dtype=x.dtype)
            out[self.dest] = x[self.source]
            return out
        # Which input position each output position copies, one index vector per padded axis.
        numpy_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        self.picks = [None if w == (0, 0) else self._picks(n, w, numpy_mode) for n, w in zip(x.shape, widths)]
        out = x
        for axis, pick in enumerate(self.picks):
            if pick is not None:
                out = np.take(out, pick, axis=axis)
        return out

    @staticmethod
    def _picks(n: int, widths: tuple[int, int], numpy_mode: str) -> np.ndarray:
        """The input position each output position copies along one axis (negative widths crop)."""
        before, after = widths
        picks = np.pad(np.arange(n), (max(before, 0), max(after, 0)), mode=numpy_mode)
        return picks[max(-before, 0):len(picks) - max(-after, 0)]

    def backward(self, grad_out: np.ndarray) -> tuple:
        if self.mode == "constant":
            grad = np.zeros(self.shape, dtype=grad_out.dtype)
            grad[self.source] = grad_out[self.dest]
            return (grad,)
        grad = grad_out
        for axis, pick in enumerate(self.picks):
            if pick is not None:
                summed = np.zeros(grad.shape[:axis] + (self.shape[axis],) + grad.shape[axis + 1:], grad.dtype)
                np.add.at(summed, (slice(None),) * axis + (pick,), grad)
                grad = summed
        return (grad,)


class Repeat(Node):
    """out = x tiled ``reps`` times along each axis (np.tile);  d/dx = the sum over the tiles."""

    def forward(self, x: np.ndarray, reps: tuple) -> np.ndarray:
        self.shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.reps = reps
        return np.tile(x.reshape(self.shape), reps)

    def backward(self, grad_out: np.ndarray) -> tuple:
        # Split every axis of length r*n into (r, n) and sum the r tiles.
        split = [n for pair in zip(self.reps, self.shape) for n in pair]
        grad = grad_out.reshape(split).sum(axis=tuple(range(0, 2 * len(self.reps), 2)))
        return (grad.reshape(self.parents[0].shape),)


class Unfold(Node):
    """out[..., i, ..., j] = x[..., i*step + j, ...];  d/dx = the sum over the windows each element is in.

    Windows of ``size`` along ``axis``, ``step`` apart; the offset j in a window is a new last axis.
    """

    def forward(self, x: np.ndarray, axis: int, size: int, step: int) -> np.ndarray:
        self.shape, self.axis, self.size, self.step = x.shape, axis, size, step
        windows = np.lib.stride_tricks.sliding_window_view(x, size, axis=axis)
        return np.ascontiguousarray(windows[(slice(None),) * axis + (slice(None, None, step),)])

    def backward(self, grad_out: np.ndarray) -> tuple:
        grad = np.zeros(self.shape, dtype=grad_out.dtype)
        axis, step = self.axis, self.step
        count = grad_out.shape[axis]
        lead = (slice(None),) * axis
        for j in range(self.size):  # offset j of every window
            grad[lead + (slice(j, j + (count - 1) * step + 1, step),)] += grad_out[..., j]
        return (grad,)


class AsStrided(Node):
    """out[i_1, ..., i_k] = x.flat[offset + sum_d i_d stride_d];  d/dx = the sum over the positions reading x.

    ``x.flat`` is x in row-major order (a contiguous tensor's storage in PyTorch).
    """

    def forward(self, x: np.ndarray, size: tuple, stride: tuple, offset: int) -> np.ndarray:
        self.shape = x.shape
        self.where = np.full(size, offset, dtype=np.int64)
        for axis, (n, step) in enumerate(zip(size, stride)):
            self.where += (np.arange(n) * step).reshape((n,) + (1,) * (len(size) - axis - 1))
        return x.reshape(-1)[self.where]

    def backward(self, grad_out: np.ndarray) -> tuple:
        return (_add_at(self.shape, self.where, grad_out),)


# ---------------------------------------------------------------------------
# Scans and products
# ---------------------------------------------------------------------------


class CumSum(Node):
    """out_i = x_1 + ... + x_i along ``axis``;  dL/dx_i = sum of grad_out_k for k >= i (a reversed cumsum)."""

    def forward(self, x: np.ndarray, axis: int, dtype: Any) -> np.ndarray:
        self.axis = axis
        return np.cumsum(x, axis=axis, dtype=dtype)

    def backward(self, grad_out: np.ndarray) -> tuple:
        reverse = (slice(None),) * self.axis + (slice(None, None, -1),)
        return (np.cumsum(grad_out[reverse], axis=self.axis)[reverse],)


class CumProd(Node):
    """out_k = x_1 * ... * x_k along ``axis``;  dL/dx_i = sum over k >= i of grad_out_k * out_k / x_i.

    The division is exact only where no x is 0; a row with a zero at z (its first) follows PyTorch's
    ``cumprod_backward``: before z the formula above over k < z, at z the sum over k >= z of
    grad_out_k * out_(z-1) * x_(z+1) * ... * x_k, after z nothing (each such product holds x_z = 0).
    """

    saves = ((0, None),)
    saves_output = True

    def forward(self, x: np.ndarray, axis: int) -> np.ndarray:
        self.x, self.axis = x, axis
        self.out = np.cumprod(x, axis=axis) if x.ndim else x.copy()
        return self.out

    def backward(self, grad_out: np.ndarray) -> tuple:
        if self.x.size == 0 or self.x.ndim == 0:  # nothing, or one element (out = x): no products to undo
            return (np.broadcast_to(grad_out, self.x.shape).astype(grad_out.dtype),)
        x = np.moveaxis(self.x, self.axis, -1)
        n = x.shape[-1]
        rows_x = x.reshape(-1, n)
        rows_out = np.moveaxis(self.out, self.axis, -1).reshape(-1, n)
        rows_g = np.moveaxis(np.broadcast_to(grad_out, self.out.shape), self.axis, -1).reshape(-1, n)
        grad = np.zeros(rows_x.shape, dtype=grad_out.dtype)
        has_zero = (rows_x == 0).any(axis=-1)
        plain = ~has_zero
        with quiet():  # inf and nan inputs give PyTorch's inf and nan, silently
            tail_sums = np.cumsum((rows_g * rows_out)[plain][:, ::-1], axis=-1)[:, ::-1]
            grad[plain] = tail_sums / rows_x[plain]
        for r in np.flatnonzero(has_zero):  # rows with a zero: the exact products, one row at a time
            xs, gs, outs = rows_x[r], rows_g[r], rows_out[r]
            z = int(np.argmax(xs == 0))
            if z > 0:
                grad[r, :z] = np.cumsum((gs[:z] * outs[:z])[::-1])[::-1] / xs[:z]
            before = outs[z - 1] if z > 0 else 1
            after = np.concatenate([[1], np.cumprod(xs[z + 1:])])
            grad[r, z] = before * np.sum(gs[z:] * after)
        return (np.moveaxis(grad.reshape(x.shape), -1, self.axis),)


def _exclusive_products(x: np.ndarray, axis: int) -> np.ndarray:
    """prod of every element but x_i along ``axis``, as (product before i) * (product after i): no division,
    so it is exact when x holds zeros."""
    n = x.shape[axis]
    ones = np.ones(x.shape[:axis] + (1,) + x.shape[axis + 1:], dtype=x.dtype)
    before = np.concatenate([ones, np.cumprod(np.take(x, np.arange(n - 1), axis=axis), axis=axis)], axis=axis)
    flipped = np.flip(x, axis=axis)
    after = np.concatenate([ones, np.cumprod(np.take(flipped, np.arange(n - 1), axis=axis), axis=axis)], axis=axis)
    return before * np.flip(after, axis=axis)


class Prod(Node):
    """out = x_1 * ... * x_n over ``axis`` (all elements for None);  d/dx_i = product of the other elements."""

    saves = ((0, None),)

    def forward(self, x: np.ndarray, axis: int | None, keepdim: bool, dtype: Any) -> np.ndarray:
        self.x, self.axis, self.keepdim = x, axis, keepdim
        return np.asarray(np.prod(x, axis=axis, keepdims=keepdim, dtype=dtype))

    def backward(self, grad_out: np.ndarray) -> tuple:
        x, axis = self.x, self.axis
        if x.size == 0:  # the product of nothing is 1, a constant: the empty input gets an empty gradient
            return (np.zeros(x.shape, dtype=grad_out.dtype),)
        if axis is None:
            others = _exclusive_products(x.reshape(-1), 0).reshape(x.shape)
            return (others * grad_out.reshape((1,) * x.ndim),)
        grad = grad_out if self.keepdim else np.expand_dims(grad_out, axis)
        return (_exclusive_products(x, axis) * grad,)
