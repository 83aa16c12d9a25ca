"""Lion: evolved sign momentum."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import FlatGroup, Optimizer, check_betas, check_number

__all__ = ["Lion", "lion_step"]


def lion_step(theta: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int, *, lr: float = 1e-4,
              betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0,
              maximize: bool = False) -> dict[str, Any]:
    """One step of `Lion` for one parameter, as the docstring writes it; returns its terms.

    ``state`` holds ``'exp_avg'`` (m, zero if absent) and is updated in place.
    """
    beta1, beta2 = betas
    g_t = -g if maximize else g
    m = state.get("exp_avg", 0)
    c_t = beta1 * m + (1 - beta1) * g_t
    theta_decayed = theta * (1 - lr * weight_decay)
    update = lr * np.sign(c_t)
    m_t = beta2 * m + (1 - beta2) * g_t
    state["exp_avg"] = m_t
    return {"g_t": g_t, "c_t": c_t, "theta_decayed": theta_decayed, "update": update,
            "theta": theta_decayed - update, "m_t": m_t}


class Lion(Optimizer):
    r"""Lion (EvoLved Sign Momentum), as in Chen et al.'s pseudocode.

    With ``lr`` = eta, ``betas`` = (beta1, beta2) and ``weight_decay`` =
    lambda, starting from m_0 = 0, each step with gradient g_t does::

        c_t   =  beta1 * m_{t-1} + (1 - beta1) * g_t      interpolate momentum and gradient
        theta <- theta * (1 - eta * lambda)               decoupled weight decay
        theta <- theta - eta * sign(c_t)                  every coordinate moves by exactly eta
        m_t   =  beta2 * m_{t-1} + (1 - beta2) * g_t      then update the momentum

    Only the sign of c_t is used, so every coordinate takes a step of the same
    size (sign(0) = 0: a coordinate with c_t = 0 stays). Lion keeps one value
    per parameter, half of Adam's state. Its steps are large for their rate: the
    paper uses a learning rate 3-10x smaller than AdamW's (and a decay 3-10x
    larger, to keep lr * lambda the same). `lion_step` is this rule for one
    parameter in plain NumPy; the kernel ``kernels.lion`` is tested against it.

    Args:
        params: tensors to optimize, or parameter groups (dicts).
        lr: learning rate eta (default 1e-4).
        betas: (beta1, beta2), each in [0, 1) (default (0.9, 0.99)).
        weight_decay: decoupled decay lambda (default 0).
        maximize: ascend the objective instead of descending.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0, -3.0], requires_grad=True)
        >>> opt = tg.optim.Lion([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()   # each coordinate moves by lr against its gradient
        >>> [round(x, 4) for x in w.tolist()]
        [4.9, -2.9]

    Reference: Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023 (Program 1).
    """

    kernel = "lion"
    rule = staticmethod(lion_step)

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_betas(group["betas"])
        check_number("weight_decay", group["weight_decay"])

    def _state_shapes(self, group: dict[str, Any], p: Any) -> dict[str, tuple]:
        return {"exp_avg": p.shape}

    def _update(self, group: dict[str, Any], flat: FlatGroup, active: np.ndarray) -> None:
        beta1, beta2 = group["betas"]
        flat.kernel("lion")(flat.param, flat.grad, flat.state["exp_avg"], flat.chunks, active, flat.steps,
                            group["lr"], beta1, beta2, group["weight_decay"], bool(group["maximize"]))
