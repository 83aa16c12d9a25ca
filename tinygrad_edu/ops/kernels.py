"""Compiled loops for the layers whose NumPy form needs many passes over memory: the fast paths.

NumPy is fast when one call does a lot of work: a matrix product, an
elementwise operation over a large array. A max-pooling window, the scatter
of a convolution's columns back into its input (col2im), an LSTM cell's gate
arithmetic or a row-wise layer norm over 64 values are the opposite: each
takes several NumPy passes over the whole array (or a Python loop of small
calls), and at class sizes those passes, not the arithmetic, are the step's
time. Each function here does that work in one compiled loop (numba).

Every kernel has a readable NumPy twin in the op that calls it, and that twin
is the reference: ``tests/test_op_kernels.py`` runs each op both ways and
compares, and PyTorch checks the NumPy form. The ops call a kernel only when
`ops._fast.compiled` says so; with ``NUMBA_DISABLE_JIT=1`` (or ``ENABLED = False``) they
take the NumPy path, so a student stepping through an op in a debugger reads
array code, not a compiled loop run as slow Python.

This module is imported on first use of such an op (numba's import costs
about half a second), and the compiled code is cached on disk, as for the
optimizer kernels (``tinygrad_edu.optim.kernels``, whose notes on SIMD apply
here too: ``error_model='numpy'``, loops from 0 over slices).
"""

from __future__ import annotations

import functools
import math

import numba

__all__ = ["ENABLED", "plane", "SMALL_PLANE", "max_pool2d", "max_pool2d_backward", "col2im",
           "col2im_rows", "im2col", "relu", "relu_backward", "lstm_cell", "lstm_cell_backward", "index_add_rows",
           "copy3", "layer_norm", "layer_norm_backward", "softmax_shift", "softmax_normalize", "softmax_backward",
           "fisher_yates", "inside_out"]

#: Set to False to make every op take its NumPy path (tests compare the two this way).
ENABLED = not numba.config.DISABLE_JIT


def kernel(function):  # noqa: ANN001, ANN201 - a decorator
    """Compile a loop: serial, cached on disk, vectorisable (see ``optim.kernels``)."""
    return numba.njit(cache=True, error_model="numpy")(function)


# ---------------------------------------------------------------------------
# Pooling and convolution
#
# A window loop is fast only when the compiler knows the window's geometry: with
# the kernel size, stride and dilation as constants it unrolls the window and
# vectorises across the output row (measured, 2x2 max pooling of 512 planes of
# 26 x 26: 0.13 ms; the same loop with the geometry as arguments: 1.0 ms, the
# NumPy form: 1.3 ms). So each geometry gets its own compiled function, made
# on first use by a factory below and cached on disk (a class uses one or two).
# Small output planes (see `plane`) are constants too, so their short loops
# unroll (im2col of the digits CNN's 4 x 4 planes: 0.05 ms instead of 0.18).
# ---------------------------------------------------------------------------


#: Output planes of at most this many positions get a function compiled for their size.
SMALL_PLANE = 32


def plane(oh: int, ow: int) -> tuple[int, int]:
    """The (oh, ow) to compile into a window kernel: the plane's size if small, else (0, 0) (read at run time)."""
    return (oh, ow) if oh * ow <= SMALL_PLANE else (0, 0)


def _compile(function, name: str):  # noqa: ANN001, ANN202
    """A closure compiled as a kernel under a name that keeps each geometry's disk-cache entry apart."""
    function.__name__ = function.__qualname__ = name
    return kernel(function)


@functools.cache
def max_pool2d(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int = 0, ow: int = 0):  # noqa: ANN201
    """The compiled max pooling for one geometry: ``f(xp, out, argmax)``.

    out[m, r, q] = the largest xp[m] in the window at (r * sh, q * sw), taps
    (i * dh, j * dw); argmax = the offset i * kw + j of that value. ``xp``
    (M, Hp, Wp) is already padded with -inf. PyTorch's rule: a later value
    replaces the best so far if it is strictly larger or NaN (so a NaN in the
    window wins, and a tie keeps the first).
    """

    def pool(xp, out, argmax):  # noqa: ANN001, ANN202
        for m in range(xp.shape[0]):
            for r in range(oh if oh else out.shape[1]):
                for q in range(ow if ow else out.shape[2]):
                    best = xp[m, r * sh, q * sw]
                    which = 0
                    for i in range(kh):
                        for j in range(kw):
                            v = xp[m, r * sh + i * dh, q * sw + j * dw]
                            if v > best or v != v:
                                best = v
                                which = i * kw + j
                    out[m, r, q] = best
                    argmax[m, r, q] = which

    return _compile(pool, f"max_pool2d_{kh}x{kw}_s{sh}x{sw}_d{dh}x{dw}_o{oh}x{ow}")


@functools.cache
def max_pool2d_backward(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int = 0, ow: int = 0):  # noqa: ANN201
    """The compiled gradient of `max_pool2d` for one geometry: ``f(grad_out, argmax, grad_xp)``.

    grad_xp (zeros, the padded shape) gets grad_out added at each window's
    argmax; where windows overlap, the contributions add up.
    """

    def pool_backward(grad_out, argmax, grad_xp):  # noqa: ANN001, ANN202
        for m in range(grad_out.shape[0]):
            for r in range(oh if oh else grad_out.shape[1]):
                for q in range(ow if ow else grad_out.shape[2]):
                    k = argmax[m, r, q]
                    i = k // kw
                    j = k - i * kw
                    grad_xp[m, r * sh + i * dh, q * sw + j * dw] += grad_out[m, r, q]

    return _compile(pool_backward, f"max_pool2d_backward_{kh}x{kw}_s{sh}x{sw}_d{dh}x{dw}_o{oh}x{ow}")


@functools.cache
def col2im(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int = 0, ow: int = 0):  # noqa: ANN201
    """The compiled col2im for one geometry: ``f(grad_cols, grad_xp)``, the adjoint of `im2col`.

    ``grad_cols`` (C, KH, KW, N, OH, OW) holds the gradient of every column
    entry; entry (c, i, j, n, r, q) was read from input (n, c, r * sh + i * dh,
    q * sw + j * dw), so it is added there in ``grad_xp`` (zeros, the padded
    shape (N, C, Hp, Wp)); overlapping windows add up.
    """

    def scatter(grad_cols, grad_xp):  # noqa: ANN001, ANN202
        for c in range(grad_xp.shape[1]):  # in the order of grad_cols, so the reads stream
            for i in range(kh):
                for j in range(kw):
                    for n in range(grad_xp.shape[0]):
                        for r in range(oh if oh else grad_cols.shape[4]):
                            for q in range(ow if ow else grad_cols.shape[5]):
                                grad_xp[n, c, r * sh + i * dh, q * sw + j * dw] += grad_cols[c, i, j, n, r, q]

    return _compile(scatter, f"col2im_{kh}x{kw}_s{sh}x{sw}_d{dh}x{dw}_o{oh}x{ow}")


@functools.cache
def col2im_rows(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int):  # noqa: ANN201
    """`col2im` for the columns' gradient laid out as rows: ``f(grad_rows, grad_xp)``.

    ``grad_rows`` (N, OH, OW, C, KH, KW): entry (n, r, q, c, i, j) was read from input
    (n, c, r * sh + i * dh, q * sw + j * dw) and is added there in ``grad_xp`` (zeros, (N, C, Hp, Wp)).
    """

    def scatter(grad_rows, grad_xp):  # noqa: ANN001, ANN202
        for n in range(grad_rows.shape[0]):
            for r in range(grad_rows.shape[1]):
                for q in range(grad_rows.shape[2]):
                    for c in range(grad_rows.shape[3]):
                        for i in range(kh):
                            for j in range(kw):
                                grad_xp[n, c, r * sh + i * dh, q * sw + j * dw] += grad_rows[n, r, q, c, i, j]

    return _compile(scatter, f"col2im_rows_{kh}x{kw}_s{sh}x{sw}_d{dh}x{dw}")


@functools.cache
def im2col(kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, oh: int = 0, ow: int = 0):  # noqa: ANN201
    """The compiled im2col for one geometry: ``f(xp, cols)``.

    cols[c, i, j, n, r, q] = xp[n, c, r * sh + i * dh, q * sw + j * dw] for xp
    (N, C, Hp, Wp): every window as a column, the batch inside the columns'
    width (see ``ops.conv.ConvNd``), in one pass.
    """

    def gather(xp, cols):  # noqa: ANN001, ANN202
        for c in range(xp.shape[1]):  # in the order of cols, so the writes stream
            for i in range(kh):
                for j in range(kw):
                    for n in range(xp.shape[0]):
                        for r in range(oh if oh else cols.shape[4]):
                            for q in range(ow if ow else cols.shape[5]):
                                cols[c, i, j, n, r, q] = xp[n, c, r * sh + i * dh, q * sw + j * dw]

    return _compile(gather, f"im2col_{kh}x{kw}_s{sh}x{sw}_d{dh}x{dw}_o{oh}x{ow}")


# ---------------------------------------------------------------------------
# Elementwise
# ---------------------------------------------------------------------------

@kernel
def relu(x, out):  # noqa: ANN001, ANN201
    """out = max(x, 0), NaN kept (as PyTorch), over flat contiguous arrays: one vectorised pass.

    (NumPy's ``np.maximum(x, 0)`` broadcasts the scalar 0 on a slow path: 3x this.)
    """
    zero = x.dtype.type(0)
    for k in range(x.size):
        v = x[k]
        out[k] = v if (v > zero) | (v != v) else zero


@kernel
def relu_backward(grad_out, out, grad_x):  # noqa: ANN001, ANN201
    """grad_x = 0 where out <= 0, else grad_out (so a NaN passes its gradient, as PyTorch's threshold_backward)."""
    zero = grad_x.dtype.type(0)
    for k in range(grad_out.size):
        grad_x[k] = zero if out[k] <= 0 else grad_out[k]


# ---------------------------------------------------------------------------
# The LSTM cell: the gate arithmetic of one time step, feature-major (rows, batch)
#
# Only arithmetic here: numba's tanh and exp are scalar library calls (no SIMD
# maths library here: measured 38x slower than NumPy's tanh), so the ops keep
# the transcendental functions in NumPy and hand the rest to these loops.
# ---------------------------------------------------------------------------


@kernel
def lstm_cell(z, c_prev, c):  # noqa: ANN001, ANN201
    """Finish the gates and update the cell: z (4H, B) holds tanh(x/2) for i, f, o and tanh(x) for g.

    In place, i, f, o become sigmoid(x) = (1 + tanh(x/2)) / 2; then
    c = f * c_prev + i * g.
    """
    size = c.shape[0]
    half = z.dtype.type(0.5)
    for k in range(size):
        for b in range(c.shape[1]):
            i = half + half * z[k, b]
            f = half + half * z[size + k, b]
            z[k, b], z[size + k, b] = i, f
            z[3 * size + k, b] = half + half * z[3 * size + k, b]
            c[k, b] = f * c_prev[k, b] + i * z[2 * size + k, b]


@kernel
def lstm_cell_backward(grad_h, grad_out, grad_c, z, c_prev, tanh_c, d, grad_c_prev):  # noqa: ANN001, ANN201
    """One step of the LSTM's backward: dL/d[i f g o] (pre-activation) into ``d``, dL/dc_{t-1} into grad_c_prev.

    With dh = grad_h + grad_out (from step t + 1 and from the output) and the
    activated gates z = [i f g o]:
    dc = grad_c + dh * o * (1 - tanh(c)^2); di = dc g i (1 - i), df = dc c_prev f (1 - f),
    dg = dc i (1 - g^2), do = dh tanh(c) o (1 - o); dL/dc_{t-1} = dc * f.
    """
    size = grad_h.shape[0]
    one = z.dtype.type(1)
    for k in range(size):
        for b in range(grad_h.shape[1]):
            dh = grad_h[k, b] + grad_out[k, b]
            tc = tanh_c[k, b]
            i, f, g, o = z[k, b], z[size + k, b], z[2 * size + k, b], z[3 * size + k, b]
            dc = grad_c[k, b] + dh * (o * (one - tc * tc))
            d[k, b] = dc * g * (i * (one - i))
            d[size + k, b] = dc * c_prev[k, b] * (f * (one - f))
            d[2 * size + k, b] = dc * i * (one - g * g)
            d[3 * size + k, b] = dh * tc * (o * (one - o))
            grad_c_prev[k, b] = dc * f


# ---------------------------------------------------------------------------
# Row-wise normalisation
#
# A layer norm standardises rows of a few dozen values: NumPy's reductions
# along a short last axis cost a few ns per element and each formula line is a
# pass; here each row is read once per sum. The sums may be reassociated (the
# only fast-math flag, so they vectorise); like NumPy's pairwise sums they are
# then not the sequential order, and equally accurate.
# ---------------------------------------------------------------------------


def row_kernel(function):  # noqa: ANN001, ANN201 - a decorator
    """Compile a loop over rows whose sums may be reassociated (vectorised)."""
    return numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})(function)


@row_kernel
def layer_norm(x, weight, bias, eps, out, x_hat, inv_std):  # noqa: ANN001, ANN201
    """Each row of x (R, N): x_hat = (x - mean) / sqrt(var + eps) (biased var), out = x_hat * weight + bias."""
    n = x.shape[1]
    eps_ = x.dtype.type(eps)
    for r in range(x.shape[0]):
        row = x[r]
        total = x.dtype.type(0)
        for j in range(n):
            total += row[j]
        mean = total / n
        squares = x.dtype.type(0)
        for j in range(n):
            centred = row[j] - mean
            squares += centred * centred
        inv = x.dtype.type(1) / math.sqrt(squares / n + eps_)
        inv_std[r] = inv
        for j in range(n):
            standard = (row[j] - mean) * inv
            x_hat[r, j] = standard
            out[r, j] = standard * weight[j] + bias[j]


@row_kernel
def layer_norm_backward(grad_out, weight, x_hat, inv_std, grad_x, grad_weight, grad_bias):  # noqa: ANN001, ANN201
    """dL/dx = inv_std (g - mean(g) - x_hat mean(g x_hat)) with g = grad_out * weight, per row;
    dL/dweight += grad_out * x_hat and dL/dbias += grad_out over the rows (both start at zero)."""
    n = grad_out.shape[1]
    for r in range(grad_out.shape[0]):
        g_row, xh_row = grad_out[r], x_hat[r]
        sum_g = grad_out.dtype.type(0)
        sum_gx = grad_out.dtype.type(0)
        for j in range(n):
            g = g_row[j] * weight[j]
            sum_g += g
            sum_gx += g * xh_row[j]
            grad_weight[j] += g_row[j] * xh_row[j]
            grad_bias[j] += g_row[j]
        mean_g, mean_gx = sum_g / n, sum_gx / n
        inv = inv_std[r]
        for j in range(n):
            grad_x[r, j] = inv * (g_row[j] * weight[j] - mean_g - xh_row[j] * mean_gx)


# ---------------------------------------------------------------------------
# Attention's softmax, on transposed scores (n, S, L): the keys down, the queries across
#
# The exp stays with NumPy (see the LSTM note); these loops do the passes
# around it: mask, maximum and shift before, the normalisation after, and the
# softmax's backward rule. Sums over the keys run down the columns, so they
# vectorise across the queries with no reassociation.
# ---------------------------------------------------------------------------


@kernel
def softmax_shift(scores_t, mask_t, top):  # noqa: ANN001, ANN201
    """scores_t += mask_t; then each column minus its maximum (0 for a column masked out entirely), in place."""
    for m in range(scores_t.shape[0]):
        col_max = top[m]
        for l in range(scores_t.shape[2]):
            col_max[l] = -math.inf
        for s in range(scores_t.shape[1]):
            for l in range(scores_t.shape[2]):
                v = scores_t[m, s, l] + mask_t[m, s, l]
                scores_t[m, s, l] = v
                col_max[l] = max(col_max[l], v)
        for l in range(scores_t.shape[2]):
            if col_max[l] == -math.inf:
                col_max[l] = 0
        for s in range(scores_t.shape[1]):
            for l in range(scores_t.shape[2]):
                scores_t[m, s, l] -= col_max[l]


@kernel
def softmax_normalize(probs_t, total):  # noqa: ANN001, ANN201
    """Each column of exp-scores divided by its sum (a column of zeros, all keys masked, stays 0), in place."""
    one = probs_t.dtype.type(1)
    for m in range(probs_t.shape[0]):
        col_sum = total[m]
        for l in range(probs_t.shape[2]):
            col_sum[l] = 0
        for s in range(probs_t.shape[1]):
            for l in range(probs_t.shape[2]):
                col_sum[l] += probs_t[m, s, l]
        for l in range(probs_t.shape[2]):
            col_sum[l] = one / col_sum[l] if col_sum[l] != 0 else one
        for s in range(probs_t.shape[1]):
            for l in range(probs_t.shape[2]):
                probs_t[m, s, l] *= col_sum[l]


@kernel
def softmax_backward(grad_t, probs_t, scale, total):  # noqa: ANN001, ANN201
    """dS = P * (dP - sum_keys(dP * P)) * scale, in place on dP^T (the softmax rule, then the scores' scale)."""
    scale_ = grad_t.dtype.type(scale)
    for m in range(grad_t.shape[0]):
        col_sum = total[m]
        for l in range(grad_t.shape[2]):
            col_sum[l] = 0
        for s in range(grad_t.shape[1]):
            for l in range(grad_t.shape[2]):
                col_sum[l] += grad_t[m, s, l] * probs_t[m, s, l]
        for s in range(grad_t.shape[1]):
            for l in range(grad_t.shape[2]):
                grad_t[m, s, l] = (grad_t[m, s, l] - col_sum[l]) * probs_t[m, s, l] * scale_


# ---------------------------------------------------------------------------
# Gathers and copies
# ---------------------------------------------------------------------------


@kernel
def index_add_rows(rows, values, out):  # noqa: ANN001, ANN201
    """out[rows[k]] += values[k] for each k in order: ``np.add.at(out, rows, values)`` in one pass.

    (``np.add.at`` handles any index pattern generically: 0.25 ms for the 512
    rows of 32 values of a character model's embedding, this loop 0.01 ms.)
    """
    for k in range(rows.size):
        dst, src = out[rows[k]], values[k]
        for j in range(src.size):
            dst[j] += src[j]


@kernel
def copy3(src, dst):  # noqa: ANN001, ANN201
    """dst[a, b, c] = src[a, b, c] for a 3-D ``src`` of any strides (a transposed view): one compiled pass.

    NumPy copies a transposed view with one inner loop per run of the last
    axis; for short runs (a batch of 32) that is 4x slower than this.
    """
    for a in range(dst.shape[0]):
        for b in range(dst.shape[1]):
            for c in range(dst.shape[2]):
                dst[a, b, c] = src[a, b, c]


# ---------------------------------------------------------------------------
# Shuffling (tinygrad_edu.rng.randperm's loops, whose draws come precomputed)
# ---------------------------------------------------------------------------


@kernel
def fisher_yates(order, offsets):  # noqa: ANN001, ANN201
    """For i = 0, 1, ...: swap order[i] with order[i + offsets[i]] (PyTorch's randperm for n < 2**32 / 20)."""
    for i in range(offsets.size):
        j = i + offsets[i]
        order[i], order[j] = order[j], order[i]


@kernel
def inside_out(order, picks):  # noqa: ANN001, ANN201
    """For i = 0, 1, ...: order[i] = order[picks[i]], order[picks[i]] = i (PyTorch's randperm for large n)."""
    for i in range(order.size):
        z = picks[i]
        order[i] = order[z]
        order[z] = i
