"""The update rules, one numba-compiled kernel each (numba is imported only here and in ``ops.kernels``).

Every kernel works in place on *flat* arrays: all parameters of a group laid
end to end in one buffer (``param``), their gradients in another (``grad``)
and each kind of optimizer state in one more. Parameter ``i`` occupies
``offsets[i]:offsets[i + 1]``; it is updated only where ``active[i]`` is true
(a parameter with no gradient is skipped, as in PyTorch), and ``steps[i]``
counts its updates. One call updates a whole model: no Python runs per tensor.

Each kernel reads param, grad and state once and writes param and state once:
one pass over memory, which is what bounds an optimizer step. Kernels made
with ``parallel_kernel`` work in two passes: first, per parameter, the step
count and the scalars that depend on it (bias corrections); then the
elements, in ``chunks`` (rows of ``lo, hi, parameter``, at most 64k elements
each), which the parallel twin spreads over the cores for large groups.

Written for readers: the variable names are the symbols of the optimizer's
docstring (``beta1`` is always beta1, ``one_minus_beta1`` is 1 - beta1), and the
arithmetic follows PyTorch's order of operations (so float64 results match
PyTorch's to the last bits). Hyperparameters are converted to the parameters'
dtype first (a trailing underscore: ``beta2_ = dtype(beta2)``, ``eps_``), so
float32 parameters are updated in float32 arithmetic, as PyTorch does, at full
SIMD width; per-parameter scalars (bias corrections) stay in float64, as in
PyTorch. Each kernel is tested against its optimizer's readable NumPy rule
(``SGD.rule``, ``Adam.rule``, ...; ``tests/optim/test_rules.py``).

Two details decide whether the loops compile to SIMD code (measured: 4.5 vs
0.6 ns per parameter for Adam): ``error_model='numpy'``, because Python's
error model checks every division for zero; and slicing each parameter's
segment out (``P = param[lo:hi]``) and looping from 0, because indexing with
an index of unknown sign makes numba check every access for negative
wraparound, which blocks vectorisation.
Serial, not ``parallel=True``: on two cores parallel threads gain little and
their spinning fights NumPy's BLAS threads. ``cache=True`` keeps the compiled
code on disk (numba falls back to a user cache directory when the package
directory is read-only). With ``NUMBA_DISABLE_JIT=1`` these are plain Python
functions that a debugger can step through.
"""

from __future__ import annotations

import os
import types

# Parallel kernels use OpenMP; its idle threads must sleep, not spin, or they steal the cores from
# NumPy's BLAS between steps (measured: a whole MLP step 0.65 ms -> 7.6 ms). A user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["sgd", "momentum", "adam", "rmsprop", "adagrad", "nadam", "radam", "lion", "lars", "lamb", "came", "pick",
           "PARALLEL_THRESHOLD"]

#: Groups of at least this many elements run the parallel twin of a kernel (both cores). Below it,
#: starting the threads costs more than they save (measured on the 2-core machine: 2e5 elements
#: 0.74 vs 0.60 ns per parameter; 1e6: 0.37 vs 0.61; 1e7: 0.50 vs 1.11).
PARALLEL_THRESHOLD = 1 << 19

_parallel: dict[str, object] = {}


def kernel(function):  # noqa: ANN001, ANN201 - a decorator
    """Compile an update rule: serial, cached on disk, vectorisable."""
    return numba.njit(cache=True, error_model="numpy")(function)


def parallel_kernel(function):  # noqa: ANN001, ANN201 - a decorator
    """Compile an update rule twice: serial, and a parallel twin whose ``prange`` runs on all cores.

    The twin is a copy of the function under another name, so the two builds
    never share an entry in numba's disk cache.
    """
    twin = types.FunctionType(function.__code__, function.__globals__, function.__name__ + "_parallel",
                              function.__defaults__, function.__closure__)
    twin.__qualname__ = function.__qualname__ + "_parallel"
    _parallel[function.__name__] = numba.njit(cache=True, error_model="numpy", parallel=True)(twin)
    return kernel(function)


def pick(name: str, size: int):  # noqa: ANN201
    """The kernel ``name``, in its parallel form for groups of at least PARALLEL_THRESHOLD elements."""
    if size >= PARALLEL_THRESHOLD and name in _parallel:
        return _parallel[name]
    return globals()[name]


@numba.njit(inline="always")
def lerp(start, end, weight):  # noqa: ANN001, ANN201
    """start + weight * (end - start): PyTorch's ``lerp`` for weight < 0.5 (i.e. 1 - beta with beta > 0.5).

    (PyTorch switches to an equivalent form for larger weights; a branch here
    would keep the loops from vectorising, and the two differ only in rounding.)
    """
    return start + weight * (end - start)


@parallel_kernel
def sgd(param, grad, momentum_buffer, chunks, active, steps, lr, momentum, dampening, weight_decay,
        nesterov, maximize):  # noqa: ANN001, ANN201
    """SGD with momentum, dampening, Nesterov and weight decay (see ``optim.SGD``)."""
    dtype = param.dtype.type
    lr, mu, weight_decay_ = dtype(lr), dtype(momentum), dtype(weight_decay)
    one_minus_tau = dtype(1 - dampening)
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        first = steps[i] == 1
        theta, grad_ = param[lo:hi], grad[lo:hi]
        buf = momentum_buffer[lo:hi] if mu != 0 else momentum_buffer
        for j in range(hi - lo):
            g = -grad_[j] if maximize else grad_[j]
            if weight_decay_ != 0:
                g = g + weight_decay_ * theta[j]
            if mu != 0:
                # b_t = g_t on the first step (PyTorch copies the gradient), then mu b + (1 - tau) g.
                b = g if first else buf[j] * mu + one_minus_tau * g
                buf[j] = b
                g = g + mu * b if nesterov else b
            theta[j] = theta[j] - lr * g


@parallel_kernel
def momentum(param, grad, velocity, chunks, active, steps, lr, beta):  # noqa: ANN001, ANN201
    """Textbook momentum: v = beta v + (1 - beta) g, theta -= lr v (see ``optim.Momentum``)."""
    dtype = param.dtype.type
    lr, beta = dtype(lr), dtype(beta)
    one_minus_beta = dtype(1) - beta
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        theta, g, v = param[lo:hi], grad[lo:hi], velocity[lo:hi]
        for j in range(hi - lo):
            v[j] = beta * v[j] + one_minus_beta * g[j]
            theta[j] = theta[j] - lr * v[j]


@parallel_kernel
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, chunks, active, steps, lr, beta1, beta2, eps,
         weight_decay, decoupled, amsgrad, maximize):  # noqa: ANN001, ANN201
    """Adam (coupled L2) and AdamW (``decoupled``), with AMSGrad (see ``optim.Adam``)."""
    dtype = param.dtype.type
    # The flags become exact arithmetic (a sign of +-1, a factor of 1, a term of 0): branches
    # in the inner loop would keep it from vectorising.
    sign = dtype(-1.0 if maximize else 1.0)
    decay = dtype(1 - lr * weight_decay) if decoupled else dtype(1)   # AdamW: theta <- theta (1 - lr lambda)
    l2 = dtype(0) if decoupled else dtype(weight_decay)                # Adam: g <- g + lambda theta
    one_minus_beta1, beta2_ = dtype(1 - beta1), dtype(beta2)
    one_minus_beta2 = dtype(1 - beta2)
    eps_ = dtype(eps)
    # Per parameter: count the step, and compute the bias corrections (once per distinct t).
    step_sizes = np.zeros(steps.size)
    bias_correction2_sqrts = np.ones(steps.size)
    last_t, step_size, bias_correction2_sqrt = -1.0, 0.0, 1.0
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
            t = steps[i]
            if t != last_t:
                step_size = lr / (1 - beta1**t)                        # lr / (1 - beta1^t)
                bias_correction2_sqrt = (1 - beta2**t) ** 0.5          # sqrt(1 - beta2^t)
                last_t = t
            step_sizes[i] = step_size
            bias_correction2_sqrts[i] = bias_correction2_sqrt
    # Per element, chunk by chunk.
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        step_size_, inv_bc2_sqrt = dtype(step_sizes[i]), dtype(1 / bias_correction2_sqrts[i])
        P, G, M, V = param[lo:hi], grad[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        V_max = max_exp_avg_sq[lo:hi] if amsgrad else max_exp_avg_sq
        for j in range(hi - lo):
            theta = P[j] * decay
            g = sign * G[j] + l2 * theta
            m = lerp(M[j], g, one_minus_beta1)                              # m = beta1 m + (1 - beta1) g
            v = V[j] * beta2_ + one_minus_beta2 * g * g              # v = beta2 v + (1 - beta2) g^2
            M[j] = m
            V[j] = v
            if amsgrad:
                v = max(V_max[j], v)                             # v_max = max(v_max, v)
                V_max[j] = v
            # sqrt(v_hat) + eps, with a product instead of a second division per element (30% faster)
            denom = np.sqrt(v) * inv_bc2_sqrt + eps_
            P[j] = theta - step_size_ * m / denom               # theta -= lr m_hat / (sqrt(v_hat) + eps)


@parallel_kernel
def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, chunks, active, steps, lr, alpha, eps,
            weight_decay, momentum, centered, maximize):  # noqa: ANN001, ANN201
    """RMSprop, optionally centered and with momentum (see ``optim.RMSprop``)."""
    dtype = param.dtype.type
    # maximize and weight decay as exact arithmetic (a sign of +-1, a term of 0): branches in the
    # inner loop would keep it from vectorising. centered and momentum pick which buffers exist.
    sign = dtype(-1.0 if maximize else 1.0)
    alpha_, one_minus_alpha = dtype(alpha), dtype(1 - alpha)
    weight_decay_, mu, eps_ = dtype(weight_decay), dtype(momentum), dtype(eps)
    minus_lr = dtype(-lr)
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        theta, grad_i, square_avg_i = param[lo:hi], grad[lo:hi], square_avg[lo:hi]
        grad_avg_i = grad_avg[lo:hi] if centered else grad_avg
        buffer_i = momentum_buffer[lo:hi] if mu > 0 else momentum_buffer
        for j in range(hi - lo):
            g = sign * grad_i[j] + weight_decay_ * theta[j]                   # g <- +-g + lambda theta
            s = square_avg_i[j] * alpha_ + one_minus_alpha * g * g  # s = alpha s + (1 - alpha) g^2
            square_avg_i[j] = s
            v = s
            if centered:
                g_bar = lerp(grad_avg_i[j], g, one_minus_alpha)    # g_bar = alpha g_bar + (1 - alpha) g
                grad_avg_i[j] = g_bar
                v = s - g_bar * g_bar                              # v = s - g_bar^2
            denom = np.sqrt(v) + eps_
            if mu > 0:
                b = buffer_i[j] * mu + g / denom                   # b = mu b + g / (sqrt(v) + eps)
                buffer_i[j] = b
                theta[j] = theta[j] + minus_lr * b                 # theta -= lr b
            else:
                theta[j] = theta[j] + minus_lr * g / denom         # theta -= lr g / (sqrt(v) + eps)


@parallel_kernel
def adagrad(param, grad, state_sum, chunks, active, steps, lr, lr_decay, weight_decay, eps,
            maximize):  # noqa: ANN001, ANN201
    """Adagrad with learning-rate decay and weight decay (see ``optim.Adagrad``)."""
    dtype = param.dtype.type
    sign = dtype(-1.0 if maximize else 1.0)  # maximize and weight decay as exact arithmetic, as in rmsprop
    weight_decay_, eps_ = dtype(weight_decay), dtype(eps)
    # Per parameter: count the step, and compute its learning rate.
    eta_ts = np.zeros(steps.size)
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
            eta_ts[i] = lr / (1 + (steps[i] - 1) * lr_decay)        # eta_t, in float64 as PyTorch
    # Per element, chunk by chunk.
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        minus_eta_t = dtype(-eta_ts[i])
        theta, grad_i, state_sum_i = param[lo:hi], grad[lo:hi], state_sum[lo:hi]
        for j in range(hi - lo):
            g = sign * grad_i[j] + weight_decay_ * theta[j]                   # g <- +-g + lambda theta
            s = state_sum_i[j] + g * g                             # s = s + g^2
            state_sum_i[j] = s
            theta[j] = theta[j] + minus_eta_t * g / (np.sqrt(s) + eps_)   # theta -= eta_t g / (sqrt(s) + eps)


@parallel_kernel
def nadam(param, grad, exp_avg, exp_avg_sq, mu_product, chunks, active, steps, lr, beta1, beta2, eps,
          weight_decay, momentum_decay, decoupled, maximize):  # noqa: ANN001, ANN201
    """NAdam: Adam with Nesterov momentum and a warming-up momentum schedule (see ``optim.NAdam``).

    ``mu_product[i]`` is parameter i's running product mu_1 ... mu_t (one value per parameter).
    """
    dtype = param.dtype.type
    # The flags become exact arithmetic (a sign of +-1, a factor of 1, a term of 0), as in adam.
    sign = dtype(-1.0 if maximize else 1.0)
    decay = dtype(1 - lr * weight_decay) if decoupled else dtype(1)   # NAdamW: theta <- theta (1 - lr lambda)
    l2 = dtype(0) if decoupled else dtype(weight_decay)                # NAdam: g <- g + lambda theta
    one_minus_beta1, beta2_ = dtype(1 - beta1), dtype(beta2)
    one_minus_beta2 = dtype(1 - beta2)
    eps_ = dtype(eps)
    # Per parameter: count the step, advance the product of the mu_t (exactly once per step), and
    # compute the coefficients (the powers once per distinct t).
    bias_corrections2 = np.zeros(steps.size)
    grad_coefficients = np.zeros(steps.size)
    avg_coefficients = np.zeros(steps.size)
    last_t, bias_correction2, mu, mu_next = -1.0, 1.0, 0.0, 0.0
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
            t = steps[i]
            if t != last_t:
                bias_correction2 = 1 - beta2**t
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))              # mu_t
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))  # mu_{t+1}
                last_t = t
            # The product is kept in the parameters' dtype (PyTorch: its default dtype), the scalars in float64.
            mu_product[i] = mu_product[i] * dtype(mu)
            product = float(mu_product[i])
            bias_corrections2[i] = bias_correction2
            grad_coefficients[i] = -lr * (1.0 - mu) / (1.0 - product)
            avg_coefficients[i] = (-lr * mu_next) / (1.0 - product * mu_next)
    # Per element, chunk by chunk.
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        bc2 = dtype(bias_corrections2[i])
        grad_coefficient, avg_coefficient = dtype(grad_coefficients[i]), dtype(avg_coefficients[i])
        P, G, M, V = param[lo:hi], grad[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for j in range(hi - lo):
            theta = P[j] * decay
            g = sign * G[j] + l2 * theta
            m = lerp(M[j], g, one_minus_beta1)                              # m = beta1 m + (1 - beta1) g
            v = V[j] * beta2_ + one_minus_beta2 * g * g              # v = beta2 v + (1 - beta2) g^2
            M[j] = m
            V[j] = v
            denom = np.sqrt(v / bc2) + eps_                      # sqrt(v_hat) + eps
            theta = theta + grad_coefficient * g / denom         # - lr (1 - mu_t) / (1 - prod mu) g / denom
            P[j] = theta + avg_coefficient * m / denom           # - lr mu_{t+1} / (1 - prod mu mu_{t+1}) m / denom


@parallel_kernel
def radam(param, grad, exp_avg, exp_avg_sq, chunks, active, steps, lr, beta1, beta2, eps, weight_decay,
          decoupled, maximize):  # noqa: ANN001, ANN201
    """RAdam: Adam whose adaptive step is switched on only once its variance is tractable (see ``optim.RAdam``)."""
    dtype = param.dtype.type
    # The flags become exact arithmetic (a sign of +-1, a factor of 1, a term of 0), as in adam.
    sign = dtype(-1.0 if maximize else 1.0)
    decay = dtype(1 - lr * weight_decay) if decoupled else dtype(1)   # theta <- theta (1 - lr lambda)
    l2 = dtype(0) if decoupled else dtype(weight_decay)                # g <- g + lambda theta
    one_minus_beta1, beta2_ = dtype(1 - beta1), dtype(beta2)
    one_minus_beta2 = dtype(1 - beta2)
    eps_, lr_, one = dtype(eps), dtype(lr), dtype(1)
    rho_inf = 2 / (1 - beta2) - 1                                # the largest length of the approximated SMA
    # Per parameter: count the step, and compute the corrections and the rectification (once per distinct t).
    bias_corrections1 = np.zeros(steps.size)
    bias_correction2_sqrts = np.zeros(steps.size)
    rectified = np.zeros(steps.size, dtype=np.bool_)            # rho_t > 5: the variance is tractable
    r_ts = np.ones(steps.size)
    last_t, bias_correction1, bias_correction2_sqrt, rectified_t, r_t = -1.0, 1.0, 1.0, False, 1.0
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
            t = steps[i]
            if t != last_t:
                bias_correction1 = 1 - beta1**t
                bias_correction2 = 1 - beta2**t
                bias_correction2_sqrt = bias_correction2**0.5
                rho_t = rho_inf - 2 * t * beta2**t / bias_correction2  # its length at step t
                rectified_t = rho_t > 5.0
                r_t = 1.0
                if rectified_t:
                    r_t = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                last_t = t
            bias_corrections1[i] = bias_correction1
            bias_correction2_sqrts[i] = bias_correction2_sqrt
            rectified[i] = rectified_t
            r_ts[i] = r_t
    # Per element, chunk by chunk.
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        bc1, bc2_sqrt, r = dtype(bias_corrections1[i]), dtype(bias_correction2_sqrts[i]), dtype(r_ts[i])
        rectified_i = rectified[i]
        P, G, M, V = param[lo:hi], grad[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for j in range(hi - lo):
            theta = P[j] * decay
            g = sign * G[j] + l2 * theta
            m = lerp(M[j], g, one_minus_beta1)                              # m = beta1 m + (1 - beta1) g
            v = V[j] * beta2_ + one_minus_beta2 * g * g              # v = beta2 v + (1 - beta2) g^2
            M[j] = m
            V[j] = v
            m_hat = m / bc1
            if rectified_i:
                # l_t = sqrt(1 - beta2^t) / (sqrt(v) + eps), as PyTorch: a reciprocal times a scalar
                adaptive_lr = one / (np.sqrt(v) + eps_) * bc2_sqrt
                P[j] = theta - m_hat * lr_ * adaptive_lr * r    # theta -= lr m_hat l_t r_t
            else:
                P[j] = theta - m_hat * lr_                      # theta -= lr m_hat (plain momentum)


@parallel_kernel
def lion(param, grad, exp_avg, chunks, active, steps, lr, beta1, beta2, weight_decay,
         maximize):  # noqa: ANN001, ANN201
    """Lion: the sign of an interpolated momentum, with decoupled weight decay (see ``optim.Lion``)."""
    dtype = param.dtype.type
    sign = dtype(-1.0 if maximize else 1.0)  # maximize as exact arithmetic, as in adam
    lr_ = dtype(lr)
    decay = dtype(1 - lr * weight_decay)
    beta1_, one_minus_beta1 = dtype(beta1), dtype(1 - beta1)
    beta2_, one_minus_beta2 = dtype(beta2), dtype(1 - beta2)
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        P, G, M = param[lo:hi], grad[lo:hi], exp_avg[lo:hi]
        for j in range(hi - lo):
            g = sign * G[j]
            m = M[j]
            c_t = beta1_ * m + one_minus_beta1 * g                   # c = beta1 m + (1 - beta1) g
            P[j] = P[j] * decay - lr_ * np.sign(c_t)             # theta <- theta (1 - lr lambda) - lr sign(c)
            M[j] = beta2_ * m + one_minus_beta2 * g                  # m = beta2 m + (1 - beta2) g


@numba.njit(inline="always")
def lerp_both_forms(start, end, weight, one_minus_weight):  # noqa: ANN001, ANN201
    """PyTorch's ``lerp`` with both of its forms, so that a weight of 1 gives ``end`` exactly.

    Adafactor's weight 1 - beta2_t = t^tau is 1 at t = 1 (at every t when tau = 0) and
    above 0.5 in the first steps, where PyTorch computes end - (end - start) (1 - weight).
    The weight is the same for a whole parameter, so the branch does not vary inside a loop.
    """
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * one_minus_weight


@kernel
def adafactor(param, grad, row_var, row_offsets, col_var, col_offsets, variance, variance_offsets, offsets, rows,
              cols, active, steps, lr, beta2_decay, eps1, eps2, d, weight_decay, maximize):  # noqa: ANN001, ANN201
    """Adafactor: factored second moments, relative step sizes, update clipping (see ``optim.Adafactor``).

    Parameter i is factored when ``rows[i] > 0``: it is a stack of ``rows[i] x cols[i]``
    matrices (its last two dimensions), whose row statistics R and column statistics C
    live in ``row_var`` and ``col_var`` at their own offsets. Otherwise (0-d and 1-d) its
    full second moment V lives in ``variance``. Three passes over a parameter: its RMS
    and the statistics; the RMS of the update U; the update. Sums are kept in float64.
    """
    dtype = param.dtype.type
    sign = dtype(-1.0 if maximize else 1.0)
    decay = dtype(1 - lr * weight_decay)                         # theta <- theta (1 - lr lambda)
    eps1_, eps1_squared, one = dtype(eps1), dtype(eps1 * eps1), dtype(1)
    column_sums = np.zeros(max(1, cols.max()), dtype=np.float64)
    for i in range(offsets.size - 1):
        if not active[i]:
            continue
        steps[i] += 1
        t = steps[i]
        lo, hi = offsets[i], offsets[i + 1]
        n = hi - lo
        if n == 0:
            continue
        P, G = param[lo:hi], grad[lo:hi]
        weight = dtype(t**beta2_decay)                           # 1 - beta2_t = t^tau
        one_minus_weight = one - weight                          # beta2_t
        rho_t = min(lr, 1 / t**0.5)                              # relative step size
        sum_of_squares = 0.0
        for j in range(n):
            sum_of_squares += float(P[j]) * float(P[j])
        alpha = max(eps2, np.sqrt(sum_of_squares) / n**0.5) * rho_t  # alpha_t = max(eps2, RMS(theta)) rho_t
        factored = rows[i] > 0
        if factored:
            n_rows, n_cols = rows[i], cols[i]
            R = row_var[row_offsets[i]:row_offsets[i + 1]]
            C = col_var[col_offsets[i]:col_offsets[i + 1]]
            for b in range(n // (n_rows * n_cols)):              # each matrix of the stack
                Gb, Rb, Cb = G[b * n_rows * n_cols:], R[b * n_rows:], C[b * n_cols:]
                column_sums[:n_cols] = 0.0
                for r in range(n_rows):
                    row_sum = 0.0
                    for c in range(n_cols):
                        g2 = float(Gb[r * n_cols + c]) ** 2
                        row_sum += g2
                        column_sums[c] += g2
                    norm = dtype(np.sqrt(row_sum))               # as PyTorch: a norm, squared, over the count
                    Rb[r] = lerp_both_forms(Rb[r], norm * norm / dtype(n_cols), weight, one_minus_weight)
                for c in range(n_cols):
                    norm = dtype(np.sqrt(column_sums[c]))
                    Cb[c] = lerp_both_forms(Cb[c], norm * norm / dtype(n_rows), weight, one_minus_weight)
        else:
            V = variance[variance_offsets[i]:variance_offsets[i + 1]]
            for j in range(n):
                g = G[j]
                V[j] = lerp_both_forms(V[j], g * g, weight, one_minus_weight)  # V = lerp(V, G^2, 1 - beta2_t)
        # U = G / sqrt(max(V_hat, eps1^2)) twice, rather than stored: first for its RMS, then for the update.
        sum_of_squares = 0.0
        step = dtype(0)
        for updating in (False, True):
            if updating:
                denom = max(1.0, np.sqrt(sum_of_squares) / (n**0.5 * d))  # update clipping: max(1, RMS(U) / d)
                step = dtype(-alpha / denom)
            if factored:
                for b in range(n // (n_rows * n_cols)):
                    Pb, Gb, Rb, Cb = P[b * n_rows * n_cols:], G[b * n_rows * n_cols:], R[b * n_rows:], C[b * n_cols:]
                    row_mean = 0.0
                    for r in range(n_rows):
                        row_mean += float(Rb[r])
                    row_mean_clamped = max(dtype(row_mean / n_rows), eps1_)  # max(mean(R), eps1)
                    for r in range(n_rows):
                        for c in range(n_cols):
                            j = r * n_cols + c
                            v_hat = Rb[r] * Cb[c] / row_mean_clamped          # V_hat = R C / max(mean(R), eps1)
                            u = one / np.sqrt(max(v_hat, eps1_squared)) * (sign * Gb[j])
                            if updating:
                                Pb[j] = Pb[j] * decay + step * u  # theta (1 - lr lambda) - alpha U / max(1, RMS(U)/d)
                            else:
                                sum_of_squares += float(u) * float(u)
            else:
                for j in range(n):
                    u = one / np.sqrt(max(V[j], eps1_squared)) * (sign * G[j])
                    if updating:
                        P[j] = P[j] * decay + step * u
                    else:
                        sum_of_squares += float(u) * float(u)


# -- layer-wise optimizers: LARS and LAMB --------------------------------------------------------------------------
# Their step size depends on norms of whole tensors (a "layer"), so each works in three passes over the chunks:
# (1, parallel) each chunk's sums of squares, in float64; (2, serial) the sums added up per parameter in chunk
# order -- the parallel twin adds them in exactly the serial order, so the two agree bit for bit -- and each
# parameter's trust ratio; (3, parallel) the element-wise update.


@numba.njit
def norms_per_parameter(chunks, sums, n_params):  # noqa: ANN001, ANN201
    """``norms[i] = (sqrt(sum of sums[c, 0]), sqrt(sum of sums[c, 1]))`` over parameter i's chunks, in chunk order."""
    totals = np.zeros((n_params, 2))
    for c in range(chunks.shape[0]):
        i = chunks[c, 2]
        totals[i, 0] += sums[c, 0]
        totals[i, 1] += sums[c, 1]
    return np.sqrt(totals)


@parallel_kernel
def lars(param, grad, momentum_buffer, chunks, active, steps, lr, momentum, weight_decay, trust_coefficient, eps,
         nesterov, lars_exclude, maximize):  # noqa: ANN001, ANN201
    """LARS: SGD with momentum on layer-wise trust-ratio-scaled gradients (see ``optim.LARS``).

    ``lars_exclude``: the group takes plain momentum steps (no trust ratio, no weight decay).
    """
    dtype = param.dtype.type
    sign = dtype(-1.0 if maximize else 1.0)  # maximize as exact arithmetic, as in adam
    lr_, mu = dtype(lr), dtype(momentum)
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
    # Pass 1: ||theta||^2 and ||g||^2 per chunk.
    sums = np.zeros((chunks.shape[0], 2))
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i] or lars_exclude:
            continue
        P, G = param[lo:hi], grad[lo:hi]
        theta_squares, g_squares = 0.0, 0.0
        for j in range(hi - lo):
            theta_squares += float(P[j]) * float(P[j])
            g_squares += float(G[j]) * float(G[j])
        sums[c, 0] = theta_squares
        sums[c, 1] = g_squares
    # Pass 2: each parameter's local learning rate (its trust ratio), in float64.
    norms = norms_per_parameter(chunks, sums, steps.size)
    local_lrs = np.ones(steps.size)
    lambda_ = dtype(0.0 if lars_exclude else weight_decay)      # lars_exclude: u = 1 * (g + 0 * theta) = g
    for i in range(steps.size):
        w_norm, g_norm = norms[i, 0], norms[i, 1]
        if w_norm > 0 and g_norm > 0 and not lars_exclude:       # else 1: a zero tensor (or gradient) still moves
            local_lrs[i] = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm + eps)
    # Pass 3: per element, chunk by chunk.
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        first = steps[i] == 1
        local_lr = dtype(local_lrs[i])
        P, G = param[lo:hi], grad[lo:hi]
        B = momentum_buffer[lo:hi] if mu != 0 else momentum_buffer
        for j in range(hi - lo):
            u = local_lr * (sign * G[j] + lambda_ * P[j])        # u = local_lr (g + lambda theta)
            d = u
            if mu != 0:
                b = u if first else mu * B[j] + u                # b = mu b + u (b = u on the first step)
                B[j] = b
                d = u + mu * b if nesterov else b
            P[j] = P[j] - lr_ * d                                # theta -= lr d


LAMB_BLOCK = 512  # elements of u kept at a time (in L1) between computing them and summing their squares


@parallel_kernel
def lamb(param, grad, exp_avg, exp_avg_sq, chunks, active, steps, lr, beta1, beta2, eps, weight_decay,
         bias_correction, maximize):  # noqa: ANN001, ANN201
    """LAMB: Adam's direction plus decoupled decay, scaled per tensor by ||theta|| / ||u|| (see ``optim.LAMB``)."""
    dtype = param.dtype.type
    sign = dtype(-1.0 if maximize else 1.0)  # maximize as exact arithmetic, as in adam
    beta1_, one_minus_beta1 = dtype(beta1), dtype(1 - beta1)
    beta2_, one_minus_beta2 = dtype(beta2), dtype(1 - beta2)
    eps_, lambda_ = dtype(eps), dtype(weight_decay)
    bias_corrections1 = np.ones(steps.size)
    bias_corrections2 = np.ones(steps.size)
    for i in range(steps.size):
        if active[i]:
            steps[i] += 1
            if bias_correction:
                bias_corrections1[i] = 1 - beta1 ** steps[i]    # 1 - beta1^t
                bias_corrections2[i] = 1 - beta2 ** steps[i]    # 1 - beta2^t
    # Pass 1: the moments (stored), and ||theta||^2 and ||u||^2 per chunk. In blocks: u is written to a small
    # buffer by a loop that vectorises, then summed (in float64, in order) by another; one loop doing both would
    # not vectorise, and runs ten times slower.
    sums = np.zeros((chunks.shape[0], 2))
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue
        bc1, bc2 = dtype(bias_corrections1[i]), dtype(bias_corrections2[i])
        u_block = np.empty(LAMB_BLOCK, dtype=param.dtype)
        theta_squares, u_squares = 0.0, 0.0
        for start in range(lo, hi, LAMB_BLOCK):
            stop = min(start + LAMB_BLOCK, hi)
            P, G, M, V = param[start:stop], grad[start:stop], exp_avg[start:stop], exp_avg_sq[start:stop]
            for j in range(stop - start):
                g = sign * G[j]
                m = beta1_ * M[j] + one_minus_beta1 * g          # m = beta1 m + (1 - beta1) g
                v = beta2_ * V[j] + one_minus_beta2 * g * g      # v = beta2 v + (1 - beta2) g^2
                M[j] = m
                V[j] = v
                r = (m / bc1) / (np.sqrt(v / bc2) + eps_)        # r = m_hat / (sqrt(v_hat) + eps)
                u_block[j] = r + lambda_ * P[j]                  # u = r + lambda theta
            for j in range(stop - start):
                theta_squares += float(P[j]) * float(P[j])
                u_squares += float(u_block[j]) * float(u_block[j])
        sums[c, 0] = theta_squares
        sums[c, 1] = u_squares
    # Pass 2: each parameter's trust ratio ||theta|| / ||u||, in float64 (1 where a norm is 0).
    norms = norms_per_parameter(chunks, sums, steps.size)
    step_sizes = np.zeros(steps.size)
    for i in range(steps.size):
        w_norm, u_norm = norms[i, 0], norms[i, 1]
        trust_ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
        step_sizes[i] = lr * trust_ratio
    # Pass 3: u again from the stored moments (the same operations on the same values: the same u), and the step.
    for c in numba.prange(chunks.shape[0]):
        lo, hi, i = chunks[c, 0], chunks[c, 1], chunks[c, 2]
        if not active[i]:
            continue  # (a continue, not an if-block: LLVM vectorises the flat body better)
        bc1, bc2 = dtype(bias_corrections1[i]), dtype(bias_corrections2[i])
        step_size = dtype(step_sizes[i])
        P, M, V = param[lo:hi], exp_avg[lo:hi], exp_avg_sq[lo:hi]
        for j in range(hi - lo):
            r = (M[j] / bc1) / (np.sqrt(V[j] / bc2) + eps_)
            u = r + lambda_ * P[j]
            P[j] = P[j] - step_size * u                          # theta -= lr * trust_ratio * u


@kernel
def came(param, grad, exp_avg, sq_row, sq_row_offsets, sq_col, sq_col_offsets, res_row, res_row_offsets, res_col,
         res_col_offsets, exp_avg_sq, exp_avg_sq_offsets, offsets, rows, cols, active, steps, lr, eps1, eps2,
         clip_threshold, beta1, beta2, beta3, weight_decay, maximize):  # noqa: ANN001, ANN201
    """CAME: Adafactor's factored second moment, clipped and averaged, scaled by a factored confidence (see
    ``optim.CAME``).

    Parameter i is factored when ``rows[i] > 0``: a stack of ``rows[i] x cols[i]`` matrices (its last two
    dimensions), whose row and column statistics (r, c of g^2; R, C of the instability) live in ``sq_row``,
    ``sq_col``, ``res_row`` and ``res_col`` at their own offsets; otherwise its full second moment v lives in
    ``exp_avg_sq``. Four passes over a factored parameter: the statistics of g^2; the RMS of u; the momentum
    and the statistics of the instability; the update. Sums are kept in float64. sqrt(r c / mean(r)) is taken as
    sqrt(r / mean(r)) sqrt(c), as the authors' code does: r and c are each about eps1 = 1e-30 where a row and a
    column got no gradient, and their product would underflow to 0 in float32 (0/0, NaN for the whole matrix).
    """
    dtype = param.dtype.type
    sign = dtype(-1.0 if maximize else 1.0)
    decay = dtype(1 - lr * weight_decay)                         # theta <- theta (1 - lr lambda)
    lr_, eps1_, eps2_ = dtype(lr), dtype(eps1), dtype(eps2)
    beta1_, one_minus_beta1 = dtype(beta1), dtype(1 - beta1)
    beta2_, one_minus_beta2 = dtype(beta2), dtype(1 - beta2)
    beta3_, one_minus_beta3 = dtype(beta3), dtype(1 - beta3)
    column_sums = np.zeros(max(1, cols.max()), dtype=np.float64)
    for i in range(offsets.size - 1):
        if not active[i]:
            continue
        steps[i] += 1
        lo, hi = offsets[i], offsets[i + 1]
        n = hi - lo
        if n == 0:
            continue
        P, G, M = param[lo:hi], grad[lo:hi], exp_avg[lo:hi]
        factored = rows[i] > 0
        n_rows, n_cols = max(rows[i], 1), max(cols[i], 1)
        n_matrices = n // (n_rows * n_cols) if factored else 0
        if factored:
            r = sq_row[sq_row_offsets[i]:sq_row_offsets[i + 1]]
            c = sq_col[sq_col_offsets[i]:sq_col_offsets[i + 1]]
            R = res_row[res_row_offsets[i]:res_row_offsets[i + 1]]
            C = res_col[res_col_offsets[i]:res_col_offsets[i + 1]]
            # Pass 1: r = beta2 r + (1 - beta2) mean(g^2 + eps1 over each row); c likewise over each column.
            for b in range(n_matrices):
                Gb, rb, cb = G[b * n_rows * n_cols:], r[b * n_rows:], c[b * n_cols:]
                column_sums[:n_cols] = 0.0
                for row in range(n_rows):
                    row_sum = 0.0
                    for col in range(n_cols):
                        g = Gb[row * n_cols + col]
                        g2 = float(g * g + eps1_)
                        row_sum += g2
                        column_sums[col] += g2
                    rb[row] = beta2_ * rb[row] + one_minus_beta2 * dtype(row_sum / n_cols)
                for col in range(n_cols):
                    cb[col] = beta2_ * cb[col] + one_minus_beta2 * dtype(column_sums[col] / n_rows)
        else:
            v = exp_avg_sq[exp_avg_sq_offsets[i]:exp_avg_sq_offsets[i + 1]]
            for j in range(n):
                g = G[j]
                v[j] = beta2_ * v[j] + one_minus_beta2 * (g * g + eps1_)   # v = beta2 v + (1 - beta2) (g^2 + eps1)
        # Pass 2: RMS(u), u = g / sqrt(v_hat) computed here and again in pass 3 rather than stored.
        sum_of_squares = 0.0
        if factored:
            for b in range(n_matrices):
                Gb, rb, cb = G[b * n_rows * n_cols:], r[b * n_rows:], c[b * n_cols:]
                r_mean = 0.0
                for row in range(n_rows):
                    r_mean += float(rb[row])
                r_mean_ = dtype(r_mean / n_rows)
                for row in range(n_rows):
                    for col in range(n_cols):
                        u = sign * Gb[row * n_cols + col] / (np.sqrt(rb[row] / r_mean_) * np.sqrt(cb[col]))
                        sum_of_squares += float(u) * float(u)
        else:
            for j in range(n):
                u = sign * G[j] / np.sqrt(v[j])
                sum_of_squares += float(u) * float(u)
        clip = dtype(max(1.0, np.sqrt(sum_of_squares / n) / clip_threshold))   # max(1, RMS(u) / d)
        # Pass 3: u_hat = u / clip, m = beta1 m + (1 - beta1) u_hat; for matrices, the instability's statistics.
        if factored:
            for b in range(n_matrices):
                Gb, Mb = G[b * n_rows * n_cols:], M[b * n_rows * n_cols:]
                rb, cb, Rb, Cb = r[b * n_rows:], c[b * n_cols:], R[b * n_rows:], C[b * n_cols:]
                r_mean = 0.0
                for row in range(n_rows):
                    r_mean += float(rb[row])
                r_mean_ = dtype(r_mean / n_rows)
                column_sums[:n_cols] = 0.0
                for row in range(n_rows):
                    row_sum = 0.0
                    for col in range(n_cols):
                        j = row * n_cols + col
                        u_hat = sign * Gb[j] / (np.sqrt(rb[row] / r_mean_) * np.sqrt(cb[col])) / clip
                        m = beta1_ * Mb[j] + one_minus_beta1 * u_hat
                        Mb[j] = m
                        instability = float((u_hat - m) * (u_hat - m) + eps2_)   # U = (u_hat - m)^2, plus eps2
                        row_sum += instability
                        column_sums[col] += instability
                    Rb[row] = beta3_ * Rb[row] + one_minus_beta3 * dtype(row_sum / n_cols)
                for col in range(n_cols):
                    Cb[col] = beta3_ * Cb[col] + one_minus_beta3 * dtype(column_sums[col] / n_rows)
            # Pass 4: theta <- theta (1 - lr lambda) - lr m / sqrt(S), S = R C / mean(R): the confidence.
            for b in range(n_matrices):
                Pb, Mb, Rb, Cb = P[b * n_rows * n_cols:], M[b * n_rows * n_cols:], R[b * n_rows:], C[b * n_cols:]
                R_mean = 0.0
                for row in range(n_rows):
                    R_mean += float(Rb[row])
                R_mean_ = dtype(R_mean / n_rows)
                for row in range(n_rows):
                    for col in range(n_cols):
                        j = row * n_cols + col
                        Pb[j] = Pb[j] * decay - lr_ * (Mb[j] / (np.sqrt(Rb[row] / R_mean_) * np.sqrt(Cb[col])))
        else:
            for j in range(n):
                u_hat = sign * G[j] / np.sqrt(v[j]) / clip
                m = beta1_ * M[j] + one_minus_beta1 * u_hat
                M[j] = m
                P[j] = P[j] * decay - lr_ * m                    # vectors: no confidence, theta -= lr m
