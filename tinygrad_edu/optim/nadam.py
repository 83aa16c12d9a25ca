"""NAdam: Adam with Nesterov momentum."""

# ruff: noqa: N806 - the readable rule names its terms by the docstring's capital symbols (G_t, R_t, P_t)

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_betas, check_number

__all__ = ["NAdam", "nadam_step"]


def nadam_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 2e-3,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
               momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
               maximize: bool = False) -> dict[str, Any]:
    """One step of `NAdam` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'exp_avg'`` (m), ``'exp_avg_sq'`` (v), zero if absent, and
    ``'mu_product'`` (P, 1 if absent, kept in the parameter's dtype); updated in place.
    """
    beta1, beta2 = betas
    terms = {}
    g_t = -g if maximize else g
    if decoupled_weight_decay:
        theta = terms["theta_decayed"] = theta * (1 - lr * weight_decay)
    elif weight_decay != 0:
        g_t = g_t + weight_decay * theta
    mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    P_t = np.asarray(state.get("mu_product", 1.0), theta.dtype) * theta.dtype.type(mu_t)
    m_t = beta1 * state.get("exp_avg", 0) + (1 - beta1) * g_t
    v_t = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * g_t * g_t
    state.update(exp_avg=m_t, exp_avg_sq=v_t, mu_product=P_t)
    v_hat = v_t / (1 - beta2**t)
    denom = np.sqrt(v_hat) + eps
    P_t = float(P_t)
    update = lr * (1 - mu_t) / (1 - P_t) * g_t / denom + lr * mu_next / (1 - P_t * mu_next) * m_t / denom
    return {**terms, "g_t": g_t, "mu_t": mu_t, "mu_{t+1}": mu_next, "P_t": P_t, "m_t": m_t, "v_t": v_t,
            "v_hat": v_hat, "update": update, "theta": theta - update}


class NAdam(Optimizer):
    r"""NAdam, exactly as ``torch.optim.NAdam``: Adam whose momentum looks one step ahead.

    With ``lr`` = alpha, ``betas`` = (beta1, beta2), ``eps`` = epsilon,
    ``weight_decay`` = lambda and ``momentum_decay`` = psi, starting from
    m_0 = v_0 = 0 and a product of momentum factors P_0 = 1, step t does::

        theta <- theta * (1 - alpha * lambda)             if decoupled_weight_decay
        g_t   <- g_t + lambda * theta                     otherwise, if weight_decay
        mu_t  =  beta1 * (1 - 0.5 * 0.96^(t * psi))       momentum factor, warming up to beta1
        P_t   =  P_{t-1} * mu_t                           (the state ``mu_product``)
        m_t   =  beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t   =  beta2 * v_{t-1} + (1 - beta2) * g_t^2
        v_hat =  v_t / (1 - beta2^t)
        theta <- theta - alpha * (1 - mu_t) / (1 - P_t) * g_t / (sqrt(v_hat) + epsilon)
        theta <- theta - alpha * mu_{t+1} / (1 - P_t * mu_{t+1}) * m_t / (sqrt(v_hat) + epsilon)

    The last two lines are Nesterov's trick: the step uses the momentum of the
    *next* step, mu_{t+1} m_t, plus the current gradient, each bias-corrected
    by the product of the momentum factors. Like Adam it keeps two values per
    parameter (m and v), plus the one number P per parameter tensor.
    `nadam_step` is this rule for one parameter in plain NumPy; the kernel
    ``kernels.nadam`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate alpha (default 2e-3).
        betas: (beta1, beta2), each in [0, 1) (default (0.9, 0.999)).
        eps: epsilon, added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty lambda (default 0).
        momentum_decay: psi, how fast mu_t warms up to beta1 (default 4e-3).
        decoupled_weight_decay: shrink the weights directly, as AdamW does
            (NAdamW), instead of adding lambda * theta to the gradient.
        maximize: ascend the objective instead of descending.

    ``mu_product`` is kept in the parameters' dtype (PyTorch keeps it in its
    default dtype, float32 unless changed).

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.NAdam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()   # g = 10, m = 1, sqrt(v_hat) = 10
        >>> round(w.item(), 4)                      # 5 - 0.1 * 10/10 - 0.1 * mu_2 / (1 - mu_1 mu_2) * 1/10
        4.8944

    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.
    """

    kernel = "nadam"
    rule = staticmethod(nadam_step)

    def __init__(self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("eps", group["eps"])
        check_betas(group["betas"])
        check_number("weight_decay", group["weight_decay"])
        check_number("momentum_decay", group["momentum_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"exp_avg": p.shape, "exp_avg_sq": p.shape, "mu_product": ()}

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        return {"mu_product": 1.0}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        state = flat.state
        beta1, beta2 = group["betas"]
        flat.kernel("nadam")(flat.param, flat.grad, state["exp_avg"], state["exp_avg_sq"], state["mu_product"],
                             flat.chunks, active, flat.steps, group["lr"], beta1, beta2, group["eps"],
                             group["weight_decay"], group["momentum_decay"], bool(group["decoupled_weight_decay"]),
                             bool(group["maximize"]))
