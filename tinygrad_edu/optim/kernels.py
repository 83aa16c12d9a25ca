"""The update rules, one numba-compiled kernel each: the only module that imports numba.

Every kernel works in place on *flat* arrays: all parameters of a group laid
end to end in one buffer (``param``), their gradients in another (``grad``)
and each kind of optimizer state in one more. Parameter ``i`` occupies
``offsets[i]:offsets[i + 1]``; it is updated only where ``active[i]`` is true
(a parameter with no gradient is skipped, as in PyTorch), and ``steps[i]``
counts its updates. One call updates a whole model: no Python runs per tensor.

Each kernel reads param, grad and state once and writes param and state once:
one pass over memory, which is what bounds an optimizer step.

Written for readers: the variable names are the symbols of the optimizer's
docstring, and the arithmetic follows PyTorch's order of operations (so float64
results match PyTorch's to the last bits). Hyperparameters are converted to
the parameters' dtype first (``dtype(...)``), so float32 parameters are updated
in float32 arithmetic, as PyTorch does, at full SIMD width.

Compiled with ``error_model='numpy'``: Python's error model checks every
division for zero, which keeps loops from being vectorised (5x slower).
Serial, not ``parallel=True``: on two cores parallel threads gain little and
their spinning fights NumPy's BLAS threads. ``cache=True`` keeps the compiled
code on disk (numba falls back to a user cache directory when the package
directory is read-only). With ``NUMBA_DISABLE_JIT=1`` these are plain Python
functions that a debugger can step through.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["sgd", "momentum", "adam"]


def kernel(function):  # noqa: ANN001, ANN201 - a decorator
    """Compile an update rule: serial, cached on disk, vectorisable."""
    return numba.njit(cache=True, error_model="numpy")(function)


@numba.njit(inline="always")
def lerp(start, end, weight):  # noqa: ANN001, ANN201
    """start + weight * (end - start), in the form PyTorch's ``lerp`` uses (exact at both ends)."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


@kernel
def sgd(param, grad, momentum_buffer, offsets, active, steps, lr, momentum, dampening, weight_decay,
        nesterov, maximize):  # noqa: ANN001, ANN201
    """SGD with momentum, dampening, Nesterov and weight decay (see ``optim.SGD``)."""
    dtype = param.dtype.type
    lr, mu, wd = dtype(lr), dtype(momentum), dtype(weight_decay)
    one_minus_tau = dtype(1 - dampening)
    for i in range(offsets.size - 1):
        if not active[i]:
            continue
        first = steps[i] == 0
        steps[i] += 1
        for j in range(offsets[i], offsets[i + 1]):
            g = -grad[j] if maximize else grad[j]
            if wd != 0:
                g = g + wd * param[j]
            if mu != 0:
                # b_t = g_t on the first step (PyTorch copies the gradient), then mu b + (1 - tau) g.
                b = g if first else momentum_buffer[j] * mu + one_minus_tau * g
                momentum_buffer[j] = b
                g = g + mu * b if nesterov else b
            param[j] = param[j] - lr * g


@kernel
def momentum(param, grad, velocity, offsets, active, steps, lr, beta):  # noqa: ANN001, ANN201
    """Textbook momentum: v = beta v + (1 - beta) g, theta -= lr v (see ``optim.Momentum``)."""
    dtype = param.dtype.type
    lr, beta = dtype(lr), dtype(beta)
    one_minus_beta = dtype(1) - beta
    for i in range(offsets.size - 1):
        if not active[i]:
            continue
        steps[i] += 1
        for j in range(offsets[i], offsets[i + 1]):
            v = beta * velocity[j] + one_minus_beta * grad[j]
            velocity[j] = v
            param[j] = param[j] - lr * v


@kernel
def adam(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, offsets, active, steps, lr, beta1, beta2, eps,
         weight_decay, decoupled, amsgrad, maximize):  # noqa: ANN001, ANN201
    """Adam (coupled L2) and AdamW (``decoupled``), with AMSGrad (see ``optim.Adam``)."""
    dtype = param.dtype.type
    wd = dtype(weight_decay)
    decay = dtype(1 - lr * weight_decay)  # AdamW's theta <- theta (1 - lr lambda)
    b1, b2 = dtype(1 - beta1), dtype(beta2)
    one_minus_beta2 = dtype(1 - beta2)
    eps_ = dtype(eps)
    for i in range(offsets.size - 1):
        if not active[i]:
            continue
        steps[i] += 1
        t = steps[i]
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        step_size = dtype(lr / bias_correction1)
        bias_correction2_sqrt = dtype(bias_correction2**0.5)
        for j in range(offsets[i], offsets[i + 1]):
            g = -grad[j] if maximize else grad[j]
            theta = param[j]
            if decoupled:
                theta = theta * decay
            elif wd != 0:
                g = g + wd * theta
            m = lerp(exp_avg[j], g, b1)                          # m = beta1 m + (1 - beta1) g
            v = exp_avg_sq[j] * b2 + one_minus_beta2 * g * g     # v = beta2 v + (1 - beta2) g^2
            exp_avg[j] = m
            exp_avg_sq[j] = v
            if amsgrad:
                v = max(max_exp_avg_sq[j], v)                    # v_max = max(v_max, v)
                max_exp_avg_sq[j] = v
            denom = np.sqrt(v) / bias_correction2_sqrt + eps_   # sqrt(v_hat) + eps
            param[j] = theta - step_size * m / denom            # theta -= lr m_hat / (sqrt(v_hat) + eps)
