"""Adagrad: per-parameter step sizes from the sum of all past squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_number

__all__ = ["Adagrad", "adagrad_step"]


def adagrad_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-2,
                 lr_decay: float = 0, weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, maximize: bool = False) -> dict[str, Any]:
    """One step of `Adagrad` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'sum'`` (s, ``initial_accumulator_value`` if absent) and is updated in place.
    """
    g_t = -g if maximize else g
    if weight_decay != 0:
        g_t = g_t + weight_decay * theta
    eta_t = lr / (1 + (t - 1) * lr_decay)
    s_t = state.get("sum", initial_accumulator_value) + g_t * g_t
    state["sum"] = s_t
    update = eta_t * g_t / (np.sqrt(s_t) + eps)
    return {"g_t": g_t, "eta_t": eta_t, "s_t": s_t, "update": update, "theta": theta - update}


class Adagrad(Optimizer):
    r"""Adagrad, exactly as ``torch.optim.Adagrad``.

    With ``lr`` = eta, ``lr_decay`` = delta, ``weight_decay`` = lambda,
    ``eps`` = epsilon and ``initial_accumulator_value`` = s_0, step t does::

        g_t   <- -g_t                                        if maximize
        g_t   <- g_t + lambda * theta                        if weight_decay
        eta_t =  eta / (1 + (t - 1) * delta)                 decayed learning rate
        s_t   =  s_{t-1} + g_t^2                             sum of squared gradients
        theta <- theta - eta_t * g_t / (sqrt(s_t) + epsilon)

    Parameters with large past gradients get small steps and rarely-updated
    ones large steps. Because s only grows, every step size keeps shrinking,
    the weakness RMSprop's running mean fixes. The state is s (``'sum'``): one
    value per parameter. `adagrad_step` is this rule for one parameter in plain
    NumPy; the kernel ``kernels.adagrad`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate eta (default 1e-2).
        lr_decay: learning-rate decay delta (default 0).
        weight_decay: L2 penalty lambda, added to the gradient (default 0).
        initial_accumulator_value: the starting value s_0 of the sum (default 0).
        eps: epsilon, added to the denominator for stability (default 1e-10).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.Adagrad([w], lr=0.5)
        >>> (w ** 2).sum().backward(); opt.step()   # s = 10^2, w <- 5 - 0.5 * 10 / 10
        >>> round(w.item(), 6)
        4.5

    Reference: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online
    Learning and Stochastic Optimization", JMLR 12, 2011.
    """

    kernel = "adagrad"
    rule = staticmethod(adagrad_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("lr_decay", group["lr_decay"])
        check_number("weight_decay", group["weight_decay"])
        check_number("initial_accumulator_value", group["initial_accumulator_value"])
        check_number("eps", group["eps"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"sum": p.shape}

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        return {"sum": group["initial_accumulator_value"]}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        flat.kernel("adagrad")(flat.param, flat.grad, flat.state["sum"], flat.chunks, active, flat.steps,
                               float(group["lr"]), float(group["lr_decay"]), float(group["weight_decay"]),
                               float(group["eps"]), bool(group["maximize"]))
