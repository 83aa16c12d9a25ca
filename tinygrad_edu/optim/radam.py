"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_betas, check_number

__all__ = ["RAdam", "radam_step"]


def radam_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-3,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
               decoupled_weight_decay: bool = False, maximize: bool = False) -> dict[str, Any]:
    """One step of `RAdam` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'exp_avg'`` (m) and ``'exp_avg_sq'`` (v), zero if absent; updated in place.
    """
    beta1, beta2 = betas
    terms = {}
    g_t = -g if maximize else g
    if decoupled_weight_decay:
        theta = terms["theta_decayed"] = theta * (1 - lr * weight_decay)
    elif weight_decay != 0:
        g_t = g_t + weight_decay * theta
    m_t = beta1 * state.get("exp_avg", 0) + (1 - beta1) * g_t
    v_t = beta2 * state.get("exp_avg_sq", 0) + (1 - beta2) * g_t * g_t
    state["exp_avg"], state["exp_avg_sq"] = m_t, v_t
    m_hat = m_t / (1 - beta1**t)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
    terms.update({"g_t": g_t, "m_t": m_t, "v_t": v_t, "m_hat": m_hat, "rho_inf": rho_inf, "rho_t": rho_t})
    if rho_t > 5:
        l_t = math.sqrt(1 - beta2**t) / (np.sqrt(v_t) + eps)
        r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        terms.update(l_t=l_t, r_t=r_t)
        update = lr * m_hat * l_t * r_t
    else:
        update = lr * m_hat
    return {**terms, "update": update, "theta": theta - update}


class RAdam(Optimizer):
    r"""RAdam, exactly as ``torch.optim.RAdam``: Adam without the need for a warmup.

    In its first steps Adam divides by a second moment averaged over very few
    gradients, whose variance is huge. RAdam measures that with rho_t, the
    length of the simple moving average that v_t approximates, and uses the
    adaptive step only once rho_t > 5, scaled by a rectification r_t that
    corrects its variance; before that it takes a plain momentum step.

    With ``lr`` = alpha, ``betas`` = (beta1, beta2), ``eps`` = epsilon and
    ``weight_decay`` = lambda, starting from m_0 = v_0 = 0, step t does::

        theta  <- theta * (1 - alpha * lambda)            if decoupled_weight_decay
        g_t    <- g_t + lambda * theta                    otherwise, if weight_decay
        m_t    =  beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t    =  beta2 * v_{t-1} + (1 - beta2) * g_t^2
        m_hat  =  m_t / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t  =  rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5:
            l_t   = sqrt(1 - beta2^t) / (sqrt(v_t) + epsilon)
            r_t   = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            theta <- theta - alpha * m_hat * l_t * r_t
        else:
            theta <- theta - alpha * m_hat

    `radam_step` is this rule for one parameter in plain NumPy; the kernel
    ``kernels.radam`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate alpha (default 1e-3).
        betas: (beta1, beta2), each in [0, 1) (default (0.9, 0.999)).
        eps: epsilon, added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty lambda (default 0).
        decoupled_weight_decay: shrink the weights directly, as AdamW does,
            instead of adding lambda * theta to the gradient.
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.RAdam([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()   # rho_1 = 1 <= 5: w <- 5 - 0.1 * m_hat, m_hat = g = 10
        >>> round(w.item(), 4)
        4.0

    Reference: Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020.
    """

    kernel = "radam"
    rule = staticmethod(radam_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("eps", group["eps"])
        check_betas(group["betas"])
        check_number("weight_decay", group["weight_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"exp_avg": p.shape, "exp_avg_sq": p.shape}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        state = flat.state
        beta1, beta2 = group["betas"]
        flat.kernel("radam")(flat.param, flat.grad, state["exp_avg"], state["exp_avg_sq"], flat.chunks, active,
                             flat.steps, group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                             bool(group["decoupled_weight_decay"]), bool(group["maximize"]))
