"""Adafactor: adaptive learning rates with sublinear memory cost."""

# ruff: noqa: N806 - the readable rule names its terms by the docstring's capital symbols (G_t, R_t, P_t)

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_number

__all__ = ["Adafactor", "adafactor_step"]


def adafactor_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-2,
                   beta2_decay: float = -0.8, eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                   weight_decay: float = 0.0, maximize: bool = False) -> dict[str, Any]:
    """One step of `Adafactor` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'row_var'`` (R) and ``'col_var'`` (C) for a parameter of 2 or
    more dimensions, else ``'variance'`` (V), zero if absent; updated in place.
    """
    eps1, eps2 = eps
    if eps1 is None:
        eps1 = float(np.finfo(theta.dtype).eps)
    G_t = -g if maximize else g
    beta2_t = 1 - t**beta2_decay
    rho_t = min(lr, 1 / math.sqrt(t))
    theta_rms = math.sqrt(np.mean(np.square(theta, dtype=np.float64))) if theta.size else 0.0
    alpha_t = max(eps2, theta_rms) * rho_t
    theta_decayed = theta * (1 - lr * weight_decay)
    terms = {"G_t": G_t, "beta2_t": beta2_t, "rho_t": rho_t, "RMS(theta)": theta_rms, "alpha_t": alpha_t}
    if theta.ndim >= 2:
        R_t = beta2_t * state.get("row_var", 0) + (1 - beta2_t) * np.mean(g * g, axis=-1, keepdims=True)
        C_t = beta2_t * state.get("col_var", 0) + (1 - beta2_t) * np.mean(g * g, axis=-2, keepdims=True)
        state["row_var"], state["col_var"] = R_t, C_t
        V_hat = R_t * C_t / np.maximum(np.mean(R_t, axis=-2, keepdims=True), eps1)
        terms.update(R_t=R_t, C_t=C_t, V_hat=V_hat)
    else:
        V_hat = beta2_t * state.get("variance", 0) + (1 - beta2_t) * g * g
        state["variance"] = terms["V_t"] = V_hat
    U_t = G_t / np.sqrt(np.maximum(V_hat, eps1 * eps1))
    U_rms = math.sqrt(np.mean(np.square(U_t, dtype=np.float64))) if U_t.size else 0.0
    update = alpha_t / max(1.0, U_rms / d) * U_t
    return {**terms, "U_t": U_t, "RMS(U_t)": U_rms, "theta_decayed": theta_decayed, "update": update,
            "theta": theta_decayed - update}


class Adafactor(Optimizer):
    r"""Adafactor, exactly as ``torch.optim.Adafactor``: Adam-like steps with far less memory.

    Adam keeps a second moment for every entry of a weight matrix. Adafactor
    keeps, for an n x m matrix, only the mean of G^2 over each row (R, n
    values) and over each column (C, m values), and rebuilds the second moment
    as their outer product: n + m numbers instead of n * m. Its step size is
    relative to the size of the weights, and it clips updates that are too big.

    With ``lr`` = gamma, ``beta2_decay`` = tau, ``eps`` = (eps1, eps2), ``d``
    = d and ``weight_decay`` = lambda, starting from R_0 = C_0 = V_0 = 0, step t
    with gradient G_t does::

        beta2_t = 1 - t^tau                               the averaging window grows with t
        rho_t   = min(gamma, 1 / sqrt(t))                 relative step size
        alpha_t = max(eps2, RMS(theta)) * rho_t           (RMS(x) = sqrt(mean(x^2)))
        theta  <- theta * (1 - gamma * lambda)            decoupled weight decay
        if theta has 2 or more dimensions (the last two are the matrix's rows and columns):
            R_t   = beta2_t * R_{t-1} + (1 - beta2_t) * mean(G_t^2 over each row)
            C_t   = beta2_t * C_{t-1} + (1 - beta2_t) * mean(G_t^2 over each column)
            V_hat = R_t C_t / max(mean(R_t), eps1)        the outer product, rescaled
        else:
            V_t   = beta2_t * V_{t-1} + (1 - beta2_t) * G_t^2;  V_hat = V_t
        U_t   = G_t / sqrt(max(V_hat, eps1^2))
        theta <- theta - alpha_t * U_t / max(1, RMS(U_t) / d)   update clipping

    With ``maximize``, G_t is the negated gradient. As in PyTorch (and unlike
    the paper), gamma caps rho_t and scales the weight decay, and eps1 guards
    the final divisions rather than being added to G^2. `adafactor_step` is
    this rule for one parameter in plain NumPy; the kernel ``kernels.adafactor``
    is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: gamma, the largest relative step size (default 1e-2, the paper's constant).
        beta2_decay: tau <= 0 (default -0.8).
        eps: (eps1, eps2) (default (None, 1e-3)): eps1 guards the divisions
            (None: the machine epsilon of the parameters' dtype); eps2 is the
            smallest weight RMS a step is relative to, so that weights starting
            at zero can move.
        d: the clipping threshold d >= 1 on the RMS of an update (default 1).
        weight_decay: decoupled decay lambda (default 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True)
        >>> opt = tg.optim.Adafactor([w], lr=0.01)
        >>> (w ** 2).sum().backward(); opt.step()   # U = [[1, 1], [0, 0]], alpha = RMS(w) * 0.01 = 0.025
        >>> [round(x, 4) for x in w.numpy().ravel().tolist()]
        [2.975, 3.975, 0.0, 0.0]
        >>> opt.state[w]["row_var"].shape, opt.state[w]["col_var"].shape   # 2 + 2 values, not 4
        ((2, 1), (1, 2))

    Reference: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with
    Sublinear Memory Cost", ICML 2018.
    """

    kernel = "adafactor"
    rule = staticmethod(adafactor_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        self._matrices: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps) if isinstance(eps, list) else eps, d=d,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("beta2_decay", group["beta2_decay"], low=-math.inf, high=0.0)
        eps = group["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise ValueError(f"Invalid eps value: {eps!r} (expected a pair (eps1, eps2), eps1 may be None)")
        if eps[0] is not None:
            check_number("eps[0]", eps[0])
        check_number("eps[1]", eps[1])
        check_number("d", group["d"], low=1.0)
        check_number("weight_decay", group["weight_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        if p.ndim >= 2:  # factored over the last two dimensions
            return {"row_var": p.shape[:-1] + (1,), "col_var": p.shape[:-2] + (1, p.shape[-1])}
        return {"variance": p.shape}

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
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(flat.dtype).eps)
        flat.kernel("adafactor")(flat.param, flat.grad, state.get("row_var", empty), offsets.get("row_var", no_state),
                                 state.get("col_var", empty), offsets.get("col_var", no_state),
                                 state.get("variance", empty), offsets.get("variance", no_state), flat.offsets,
                                 rows, cols, active, flat.steps, group["lr"], group["beta2_decay"], eps1, eps2,
                                 group["d"], group["weight_decay"], bool(group["maximize"]))
