"""CAME: confidence-guided adaptive memory-efficient optimization."""

# ruff: noqa: N806 - the readable rule names its terms by the docstring's capital symbols (U_t, R_t, C_t, S_t)

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_number

__all__ = ["CAME", "came_step"]


def _rms(x: np.ndarray) -> float:
    """sqrt(mean(x^2)), summed in float64."""
    return math.sqrt(float(np.mean(np.square(x, dtype=np.float64)))) if np.size(x) else 0.0


def came_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 2e-4,
              eps: tuple[float, float] = (1e-30, 1e-16), clip_threshold: float = 1.0,
              betas: tuple[float, float, float] = (0.9, 0.999, 0.9999), weight_decay: float = 0,
              maximize: bool = False) -> dict[str, Any]:
    """One step of `CAME` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'exp_avg'`` (m) and, for a parameter of 2 or more dimensions,
    ``'exp_avg_sq_row'`` (r), ``'exp_avg_sq_col'`` (c), ``'exp_avg_res_row'`` (R) and
    ``'exp_avg_res_col'`` (C), else ``'exp_avg_sq'`` (v); zero if absent, updated in place.
    """
    eps1, eps2 = eps
    beta1, beta2, beta3 = betas
    g_t = -g if maximize else g
    terms: dict[str, Any] = {"g_t": g_t}
    factored = theta.ndim >= 2
    if factored:
        r_t = beta2 * state.get("exp_avg_sq_row", 0) + (1 - beta2) * np.mean(g_t * g_t + eps1, axis=-1, keepdims=True)
        c_t = beta2 * state.get("exp_avg_sq_col", 0) + (1 - beta2) * np.mean(g_t * g_t + eps1, axis=-2, keepdims=True)
        state["exp_avg_sq_row"], state["exp_avg_sq_col"] = r_t, c_t
        # sqrt(v_hat) as sqrt(r_t / mean(r_t)) sqrt(c_t): the product r_t c_t of two statistics near eps1 would
        # underflow to 0 in float32 where a row and a column got no gradient (0/0).
        sqrt_v_hat = np.sqrt(r_t / np.mean(r_t, axis=-2, keepdims=True)) * np.sqrt(c_t)
        v_hat = sqrt_v_hat * sqrt_v_hat
        terms.update(r_t=r_t, c_t=c_t, v_hat=v_hat)
    else:
        v_hat = terms["v_t"] = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * (g_t * g_t + eps1)
        state["exp_avg_sq"] = v_hat
        sqrt_v_hat = np.sqrt(v_hat)
    u_t = g_t / sqrt_v_hat
    u_rms = _rms(u_t)
    u_hat = u_t / max(1.0, u_rms / clip_threshold)
    m_t = beta1 * state.get("exp_avg", 0) + (1 - beta1) * u_hat
    state["exp_avg"] = m_t
    terms.update({"u_t": u_t, "RMS(u_t)": u_rms, "u_hat": u_hat, "m_t": m_t})
    if factored:
        U_t = (u_hat - m_t) ** 2
        R_t = beta3 * state.get("exp_avg_res_row", 0) + (1 - beta3) * np.mean(U_t + eps2, axis=-1, keepdims=True)
        C_t = beta3 * state.get("exp_avg_res_col", 0) + (1 - beta3) * np.mean(U_t + eps2, axis=-2, keepdims=True)
        state["exp_avg_res_row"], state["exp_avg_res_col"] = R_t, C_t
        sqrt_S_t = np.sqrt(R_t / np.mean(R_t, axis=-2, keepdims=True)) * np.sqrt(C_t)  # as sqrt(v_hat) above
        S_t = sqrt_S_t * sqrt_S_t
        update = lr * (m_t / sqrt_S_t)
        terms.update(U_t=U_t, R_t=R_t, C_t=C_t, S_t=S_t)
    else:
        update = lr * m_t
    theta_decayed = theta * (1 - lr * weight_decay)
    return {**terms, "theta_decayed": theta_decayed, "update": update, "theta": theta_decayed - update}


class CAME(Optimizer):
    r"""CAME: Adafactor's memory with Adam-like steps, through a confidence-guided momentum.

    Adafactor saves memory by keeping, for an n x m weight matrix, only row and
    column statistics of g^2 (n + m numbers instead of Adam's n m); its updates
    are noisier than Adam's. CAME keeps a momentum m of the (clipped) factored
    update, and measures how far each new update strays from it -- the
    instability U_t = (u_hat - m_t)^2 -- in factored form again (R, C). Steps are
    large where the update agrees with its momentum (confident) and small where
    it does not. Its state for a matrix is n m + 2 (n + m) numbers: about half
    of Adam's 2 n m (the momentum is the one full-size buffer).

    With ``lr`` = eta, ``betas`` = (beta1, beta2, beta3), ``eps`` = (eps1, eps2),
    ``clip_threshold`` = d and ``weight_decay`` = lambda, starting from zero
    state, each step with gradient g_t does (mean(x) over each row keeps one
    number per row)::

        g_t     <- -g_t                                     if maximize
        r_t     =  beta2 * r_{t-1} + (1 - beta2) * mean(g_t^2 + eps1 over each row)      a matrix: factored
        c_t     =  beta2 * c_{t-1} + (1 - beta2) * mean(g_t^2 + eps1 over each column)
        v_hat   =  r_t c_t / mean(r_t)                      as Adafactor (mean(r_t): over the rows)
        v_t     =  beta2 * v_{t-1} + (1 - beta2) * (g_t^2 + eps1)     a vector or scalar, instead: v_hat = v_t
        u_t     =  g_t / sqrt(v_hat)
        u_hat   =  u_t / max(1, RMS(u_t) / d)               update clipping (RMS(x) = sqrt(mean(x^2)))
        m_t     =  beta1 * m_{t-1} + (1 - beta1) * u_hat
        U_t     =  (u_hat - m_t)^2                          a matrix: the instability
        R_t     =  beta3 * R_{t-1} + (1 - beta3) * mean(U_t + eps2 over each row)
        C_t     =  beta3 * C_{t-1} + (1 - beta3) * mean(U_t + eps2 over each column)
        S_t     =  R_t C_t / mean(R_t)                      its factored average (a vector or scalar: S_t = 1)
        update  =  eta * m_t / sqrt(S_t)                    confident (small S_t): a large step
        theta_decayed = theta * (1 - eta * lambda)          decoupled weight decay
        theta   <- theta_decayed - update

    A matrix is a parameter of 2 or more dimensions, factored over its last
    two (a stack of matrices, each with its own statistics, clipped as a whole).
    The paper's Algorithm 1 (matrices only) writes the row and column sums and
    divides by the sum of r_t (1_n^T r_t): the same v_hat and S_t as the means
    here, which follow the authors' code (yangluo7/CAME). As in that code, a
    vector takes the momentum step without a confidence, weight decay is
    decoupled, and there is no bias correction; and as there, sqrt(v_hat) is
    computed as sqrt(r_t / mean(r_t)) sqrt(c_t) (and sqrt(S_t) likewise): where a
    row and a column got no gradient, r_t and c_t are each near eps1 and their
    product would underflow to 0 in float32. `came_step` is this rule for one
    parameter in plain NumPy; the kernel ``kernels.came`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate eta (default 2e-4).
        eps: (eps1, eps2), both > 0, added to g^2 and to the instability so
            that neither statistic is ever 0 (default (1e-30, 1e-16)).
        clip_threshold: d > 0, the largest RMS of an update u_hat (default 1).
        betas: (beta1, beta2, beta3) in [0, 1): the averaging of the momentum,
            of g^2 and of the instability (default (0.9, 0.999, 0.9999)).
        weight_decay: decoupled decay lambda (default 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.zeros(256, 512, requires_grad=True)
        >>> opt = tg.optim.CAME([w])
        >>> w.grad = tg.ones(256, 512); opt.step()
        >>> opt.state_nbytes()   # float32: m (256 x 512), r and R (256 each), c and C (512 each), one step count
        530440
        >>> 4 * 2 * 256 * 512 + 8   # what Adam keeps for the same matrix: m and v, 256 x 512 each
        1048584

    Reference: Luo et al., "CAME: Confidence-guided Adaptive Memory Efficient
    Optimization", ACL 2023 (Algorithm 1).
    """

    kernel = "came"
    rule = staticmethod(came_step)

    def __init__(self, params: Iterable[Any], lr: float = 2e-4, eps: tuple[float, float] = (1e-30, 1e-16),
                 clip_threshold: float = 1.0, betas: tuple[float, float, float] = (0.9, 0.999, 0.9999),
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        self._matrices: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        defaults = dict(lr=lr, eps=tuple(eps) if isinstance(eps, list) else eps, clip_threshold=clip_threshold,
                        betas=tuple(betas) if isinstance(betas, list) else betas, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        eps = group["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise ValueError(f"Invalid eps value: {eps!r} (expected a pair (eps1, eps2))")
        check_number("eps[0]", eps[0], low_open=True)
        check_number("eps[1]", eps[1], low_open=True)
        check_number("clip_threshold", group["clip_threshold"], low_open=True)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 3:
            raise ValueError(f"Invalid betas value: {betas!r} (expected three numbers (beta1, beta2, beta3))")
        for k in range(3):
            check_number(f"betas[{k}]", betas[k], 0.0, 1.0, high_open=True)
        check_number("weight_decay", group["weight_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        if p.ndim >= 2:  # factored over the last two dimensions, the statistics shaped to broadcast against p
            row, col = p.shape[:-1] + (1,), p.shape[:-2] + (1, p.shape[-1])
            return {"exp_avg": p.shape, "exp_avg_sq_row": row, "exp_avg_sq_col": col, "exp_avg_res_row": row,
                    "exp_avg_res_col": col}
        return {"exp_avg": p.shape, "exp_avg_sq": p.shape}

    def _matrix_shapes(self, flat: FlatGroup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows and columns of each parameter's matrices (0 for unfactored ones), computed once per group."""
        shapes = self._matrices.get(id(flat))
        if shapes is None:
            rows = np.array([p.shape[-2] if p.ndim >= 2 else 0 for p in flat.params], dtype=np.int64)
            cols = np.array([p.shape[-1] if p.ndim >= 2 else 0 for p in flat.params], dtype=np.int64)
            no_state = np.zeros(len(flat.params) + 1, dtype=np.int64)  # offsets of a buffer no parameter uses
            shapes = self._matrices[id(flat)] = (rows, cols, no_state)
        return shapes

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        rows, cols, no_state = self._matrix_shapes(flat)
        state, offsets, empty = flat.state, flat.state_offsets, flat.empty

        def buffer(name: str) -> tuple[np.ndarray, np.ndarray]:
            return state.get(name, empty), offsets.get(name, no_state)

        eps1, eps2 = group["eps"]
        beta1, beta2, beta3 = group["betas"]
        flat.kernel("came")(flat.param, flat.grad, state["exp_avg"], *buffer("exp_avg_sq_row"),
                            *buffer("exp_avg_sq_col"), *buffer("exp_avg_res_row"), *buffer("exp_avg_res_col"),
                            *buffer("exp_avg_sq"), flat.offsets, rows, cols, active, flat.steps, group["lr"], eps1,
                            eps2, group["clip_threshold"], beta1, beta2, beta3, group["weight_decay"],
                            bool(group["maximize"]))
