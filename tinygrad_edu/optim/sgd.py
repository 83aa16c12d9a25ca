"""Stochastic gradient descent (interim NumPy form; the numba kernels replace the arithmetic)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd import no_grad
from .optimizer import Optimizer, check_number

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum, as ``torch.optim.SGD``.

    With learning rate ``lr`` = :math:`\eta`, ``momentum`` = :math:`\mu`,
    ``dampening`` = :math:`\tau`, ``weight_decay`` = :math:`\lambda`, each step
    with gradient :math:`g_t` does::

        g_t   = g_t + lambda * theta                       (if weight_decay)
        b_t   = g_t                                        (first step)
        b_t   = mu * b_{t-1} + (1 - tau) * g_t             (later steps)
        g_t   = g_t + mu * b_t  (nesterov)   or   g_t = b_t
        theta = theta - eta * g_t        (theta + eta * g_t if maximize)

    Plain gradient descent is ``momentum=0``: theta <- theta - eta * grad.

    Example:
        >>> import tinygrad_edu as tg
        >>> w = tg.tensor([5.0], requires_grad=True)
        >>> opt = tg.optim.SGD([w], lr=0.1)
        >>> (w ** 2).sum().backward(); opt.step()
        >>> round(w.item(), 6)    # 5 - 0.1 * 10
        4.0
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_number("lr", group["lr"])
        check_number("momentum", group["momentum"])
        check_number("weight_decay", group["weight_decay"])
        check_number("dampening", group["dampening"], low=-np.inf)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"Nesterov momentum requires momentum > 0 and zero dampening, got momentum={group['momentum']}, "
                f"dampening={group['dampening']}"
            )

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            from ..autograd import enable_grad

            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.shape != p.shape:
                    raise ValueError(f"SGD: gradient of shape {g.shape} for a parameter of shape {p.shape}")
                if group["maximize"]:
                    g = -g
                if wd:
                    g = g + wd * p.data
                if mu:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # np.array, not g.copy(): for a 0-d parameter g may be a NumPy scalar,
                        # which the in-place updates below could not change.
                        buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype)
                    else:
                        buf *= mu
                        buf += (1 - tau) * g
                    g = g + mu * buf if group["nesterov"] else buf
                p.data -= (lr * g).astype(p.dtype, copy=False)
        return loss
